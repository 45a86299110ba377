// Reading a key-history file (identity rules 10-12): every bundle verified, the state built,
// continuity across handovers checked, and whether the file shows every identity event up to
// its tree size (its tail).

import { Bytes, concat, fromHex, toHex, utf8, equal } from "./bytes.js";
import { JSONValue, canonicalText, parseJson } from "./canonical.js";
import { decodeJson, eventFromMessage, KEY_KINDS } from "./bundle.js";
import { deriveLogId, eventId, parseAddress } from "./crypto.js";
import { OkeiosError } from "./errors.js";
import { Authority } from "./identity.js";
import { leafHash, verifyConsistency, verifyInclusion } from "./merkle.js";
import { ChainView, Policy, verifyBundle } from "./verify.js";

const KEYS_MEDIA_TYPE = "application/vnd.okeios.keys+json";
const err = (m: string) => new OkeiosError("IdentityError", m);

function hex32(v: JSONValue | undefined): Bytes {
  return hexBytes(v, 32);
}

function hexBytes(v: JSONValue | undefined, size: number): Bytes {
  // lower-case 0x-hex of exactly `size` bytes
  const b = typeof v === "string" && v.length === 2 + 2 * size && v === v.toLowerCase() ? fromHex(v) : null;
  if (b === null) throw new Error(`expected ${size} bytes of lower-case 0x-hex`);
  return b;
}

function jsonText(v: JSONValue): string {
  // A bundle object re-serialised for the bundle reader (member order kept).
  if (v instanceof Map) return "{" + [...v.entries()].map(([k, x]) => JSON.stringify(k) + ":" + jsonText(x)).join(",") + "}";
  if (Array.isArray(v)) return "[" + v.map(jsonText).join(",") + "]";
  return canonicalText(v);
}

export async function loadAuthority(data: Bytes, policy: Policy, chain: ChainView | null): Promise<Authority> {
  let raw: JSONValue;
  try {
    raw = parseJson(data);
  } catch (e) {
    throw err(`the key history is not valid JSON: ${(e as Error).message}`);
  }
  if (!(raw instanceof Map)) throw err("a key history is a JSON object");
  const keys = ["bundles", "continuity", "mediaType", "organisation", "treeSize", "version"];
  const n = raw.has("tail") ? keys.length + 1 : keys.length;
  if (raw.size !== n || !keys.every((k) => raw.has(k))) throw err(`a key history has exactly the members ${keys.join(", ")} (and tail)`);
  if (raw.get("mediaType") !== KEYS_MEDIA_TYPE || raw.get("version") !== 2n) throw err("not a version 2 key history");
  const orgText = raw.get("organisation");
  const org = typeof orgText === "string" ? parseAddress(orgText) : null;
  if (org === null) throw err("organisation: not a valid address");
  if (!policy.organisations.has(org)) throw err(`the key history is of ${org}, which the policy does not pin`);
  const size = raw.get("treeSize");
  if (typeof size !== "bigint" || size < 0n) throw err("treeSize must be a non-negative integer");
  const items = raw.get("bundles");
  if (!Array.isArray(items)) throw err("bundles must be a list");
  const logId = deriveLogId(org);
  const bundles = items.map((item, i) => {
    let b;
    try {
      b = decodeJson(utf8(jsonText(item)));
    } catch (e) {
      throw err(`bundle ${i}: ${(e as Error).message}`);
    }
    if (!KEY_KINDS.includes(b.event.kind) || !equal(b.event.logId, logId)) throw err(`bundle ${i} is not an identity event of the log of ${org}`);
    if (b.checkpoint.treeSize !== size) throw err(`bundle ${i} is proven against another tree size than ${size}`);
    return b;
  });
  for (let i = 1; i < bundles.length; i++)
    if (bundles[i].inclusion.index < bundles[i - 1].inclusion.index) throw err("the bundles of a key history come in log order");
  const authority = Authority.fromEvents(org, bundles.map((b) => [b.inclusion.index, b.event, b.signature]), size);
  const roots = new Set(bundles.map((b) => toHex(b.checkpoint.root)));
  if (roots.size > 1) throw err("the bundles of a key history are proven against different roots");
  const cont = raw.get("continuity");
  if (!Array.isArray(cont)) throw err("continuity must be a list");
  const links = new Map<string, [bigint, Bytes, Bytes[]]>();
  cont.forEach((item, i) => {
    if (!(item instanceof Map) || item.size !== 4 || !["publisher", "treeSize", "root", "proof"].every((k) => item.has(k)))
      throw err(`continuity[${i}] has exactly publisher, treeSize, root, proof`);
    const p = item.get("publisher");
    const key = typeof p === "string" ? parseAddress(p) : null;
    const s = item.get("treeSize");
    const proof = item.get("proof");
    let root: Bytes, hashes: Bytes[];
    try {
      if (key === null || !Array.isArray(proof)) throw new Error("malformed");
      root = hex32(item.get("root"));
      hashes = proof.map(hex32);
    } catch (e) {
      throw err(`continuity[${i}]: ${(e as Error).message}`);
    }
    if (typeof s !== "bigint" || s < 1n) throw err(`continuity[${i}].treeSize must be a positive integer`);
    if (links.has(key)) throw err(`continuity lists ${key} twice`);
    links.set(key, [s, root, hashes]);
  });
  if (authority.handovers.length) {
    const root = fromHex([...roots][0])!;
    for (const h of authority.handovers) {
      const link = links.get(h.old);
      if (link !== undefined) {
        const [last, lastRoot, proof] = link;
        if (last > h.index + 1n) throw err(`${h.old} claims an anchor of ${last} entries, past its handover at entry ${h.index}`);
        try {
          if (last === size) {
            if (!equal(lastRoot, root) || proof.length) throw new Error("equal sizes with different roots or a proof");
          } else verifyConsistency(last, size, lastRoot, root, proof);
        } catch (e) {
          throw err(`the anchored history of ${h.old} does not extend into the key history's tree: ${(e as Error).message}`);
        }
      }
      if (chain === null) continue;
      let latest;
      try {
        latest = await chain.latest(policy.registry!, h.old, authority.logId);
      } catch (e) {
        throw err(`the chain could not be read: ${(e as Error).message}`);
      }
      if (latest === null) continue;
      if (latest.treeSize > h.index + 1n) throw err(`${h.old} handed the log over at entry ${h.index} but anchored ${latest.treeSize} entries: a retired key kept anchoring`);
      if (link === undefined || link[0] !== latest.treeSize || !equal(link[1], latest.root))
        throw err(`the key history does not link ${h.old}'s last anchor (${latest.treeSize} entries) to its tree`);
    }
  }
  const own: Policy = {
    authors: new Set(),
    publishers: new Set(),
    organisations: new Map([[org, null]]),
    chainId: policy.chainId,
    registry: policy.registry,
    confirmations: policy.confirmations,
    required: new Set(policy.chainId !== null ? ["integrity", "authenticity", "inclusion", "confidentiality", "anchoring", "consistency"] : ["integrity", "authenticity", "inclusion", "confidentiality"]),
  };
  const all = new Map([[toHex(authority.logId), authority]]);
  for (let i = 0; i < bundles.length; i++) {
    const report = await verifyBundle(bundles[i], own, { chain, authorities: all });
    for (const v of report.verdicts) {
      if (v.property === "confidentiality") continue;
      if (v.status === "fail" || (chain !== null && v.status !== "pass"))
        throw err(`bundle ${i} (${bundles[i].event.kind} of ${bundles[i].event.subject}): ${v.property} ${v.reason}: ${v.detail}`);
    }
  }
  const [complete, why] = completeness(authority, raw.get("tail") ?? null, bundles.map((b) => b.inclusion.index), size, roots.size ? fromHex([...roots][0])! : null, logId);
  authority.complete = complete;
  authority.completeness = why;
  return authority;
}

const TAIL_KEYS = ["index", "event", "signature", "proof"];

/** Whether the key history shows every identity event of the log's first `size` entries
 * (identity rule 12): its identity events are numbered 1..k with no gap, and the entries after
 * the last of them up to `size` are shown, each proven in the same tree, none an identity event
 * of the log. A malformed tail entry refuses the file. */
function completeness(authority: Authority, raw: JSONValue, indices: bigint[], size: bigint, root: Bytes | null, logId: Bytes): [boolean, string] {
  if (!authority.numbered)
    return [false, "its identity events are not numbered (a log made before numbering): an identity event left out could not be seen"];
  if (raw === null) return [false, "it does not show the entries after its last identity event (no tail)"];
  if (!Array.isArray(raw)) throw err("tail must be a list");
  const start = indices.length ? indices[indices.length - 1] + 1n : 0n;
  if (BigInt(raw.length) !== size - start)
    return [false, `it shows ${raw.length} of the ${size - start} entries after its last identity event (entries ${start}..${size - 1n})`];
  for (let offset = 0; offset < raw.length; offset++) {
    const item = raw[offset];
    const index = start + BigInt(offset);
    if (!(item instanceof Map) || item.size !== TAIL_KEYS.length || !TAIL_KEYS.every((k) => item.has(k)))
      throw err(`tail[${offset}] has exactly index, event, signature, proof`);
    const at = item.get("index");
    if (at !== index) return [false, `tail[${offset}] is entry ${typeof at === "bigint" ? at : jsonText(at!)}, not entry ${index}`];
    let event, signature: Bytes, proof: Bytes[];
    try {
      event = eventFromMessage(item.get("event"));
      signature = hexBytes(item.get("signature"), 65);
      const p = item.get("proof");
      if (!Array.isArray(p)) throw new Error("proof must be a list");
      proof = p.map(hex32);
    } catch (e) {
      throw err(`tail[${offset}]: ${(e as Error).message}`);
    }
    let proven = root !== null;
    if (root !== null) {
      try {
        verifyInclusion(index, size, leafHash(concat(eventId(event), signature)), proof, root);
      } catch {
        proven = false;
      }
    }
    if (!proven) return [false, `entry ${index} of its tail is not proven in its tree`];
    if (KEY_KINDS.includes(event.kind) && equal(event.logId, logId))
      return [false, `entry ${index} is an identity event the key history leaves out`];
  }
  return [true, `it shows every identity event of the log's first ${size} entries`];
}
