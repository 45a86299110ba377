// Reading a key-history file (docs/identity.md section 5): every bundle verified, the state
// built, continuity across handovers checked.

import { Bytes, fromHex, toHex, utf8, equal } from "./bytes.js";
import { JSONValue, canonicalText, parseJson } from "./canonical.js";
import { decodeJson, KEY_KINDS } from "./bundle.js";
import { deriveLogId, parseAddress } from "./crypto.js";
import { OkeiosError } from "./errors.js";
import { Authority } from "./identity.js";
import { verifyConsistency } from "./merkle.js";
import { ChainView, Policy, verifyBundle } from "./verify.js";

const KEYS_MEDIA_TYPE = "application/vnd.okeios.keys+json";
const err = (m: string) => new OkeiosError("IdentityError", m);

function hex32(v: JSONValue | undefined): Bytes {
  const b = typeof v === "string" && v.length === 66 ? fromHex(v) : null;
  if (b === null) throw new Error("expected 32 bytes of 0x-hex");
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
  if (raw.size !== keys.length || !keys.every((k) => raw.has(k))) throw err(`a key history has exactly the members ${keys.join(", ")}`);
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
  return authority;
}
