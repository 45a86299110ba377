// One verdict per property, a named reason per failure (docs/verification.md). The report's
// JSON shape is the one `okeios verify --json` prints.

import { Bytes, equal, toHex, decodeUtf8 } from "./bytes.js";
import { Bundle, KEY_KINDS, ZERO_HASH, loadBundle } from "./bundle.js";
import { JSONValue, Token, canonicalBytes, formatPointer, parseJson, typedLeaves } from "./canonical.js";
import { commitmentFromDigests, fieldDigest, pathConflict, pathKey } from "./commitment.js";
import { checkpointId, checksumAddress, deriveLogId, eventId, recoverAddress, sha256 } from "./crypto.js";
import { OkeiosError } from "./errors.js";
import { leafHash, verifyConsistency, verifyInclusion } from "./merkle.js";
import { Authority, when } from "./identity.js";
import { concat } from "./bytes.js";

export const PROPERTIES = ["integrity", "authenticity", "inclusion", "anchoring", "consistency", "confidentiality"] as const;
export type Property = (typeof PROPERTIES)[number];
export const OFFLINE: Property[] = ["integrity", "authenticity", "inclusion", "confidentiality"];
export const CHAIN: Property[] = ["anchoring", "consistency"];

export type Status = "pass" | "fail" | "skipped" | "undecided";

export interface Verdict {
  property: Property;
  status: Status;
  reason: string | null;
  detail: string;
}

export interface Policy {
  authors: Set<string> | "any";
  publishers: Set<string> | "any";
  organisations: Map<string, Set<string> | null>;
  chainId: bigint | null;
  registry: string | null;
  confirmations: bigint;
  required: Set<string>;
}

export interface AnchorEntry {
  treeSize: bigint;
  root: Bytes;
  blockNumber: bigint;
  timestamp: bigint;
}

/** What the verifier reads from a chain. A read that fails throws OkeiosError "ChainError"
 * (or "RegistryMissingError" when no contract is at the registry address). */
export interface ChainView {
  chainId(): Promise<bigint>;
  head(): Promise<bigint>;
  anchorAt(registry: string, publisher: string, logId: Bytes, treeSize: bigint): Promise<AnchorEntry | null>;
  latest(registry: string, publisher: string, logId: Bytes): Promise<AnchorEntry | null>;
}

export interface Report {
  eventId: Bytes;
  recordId: Bytes;
  kind: string;
  author: string;
  publisher: string;
  treeSize: bigint;
  verdicts: Verdict[];
  disclosed: [string, string][];
  anchoredBlock: bigint | null;
  anchoredTime: bigint | null;
  required: Set<string>;
}

const pass = (property: Property, detail = ""): Verdict => ({ property, status: "pass", reason: null, detail });
const failed = (property: Property, reason: string, detail: string): Verdict => ({ property, status: "fail", reason, detail });
const skip = (property: Property, detail: string): Verdict => ({ property, status: "skipped", reason: "no-chain", detail });
const undecided = (property: Property, reason: string, detail: string): Verdict => ({ property, status: "undecided", reason, detail });

const q = (p: Token[]) => `'${formatPointer(p)}'`;
const isContainer = (v: JSONValue) => Array.isArray(v) || v instanceof Map;
const isEmpty = (v: JSONValue) => (Array.isArray(v) ? v.length === 0 : v instanceof Map ? v.size === 0 : true);

export function outcome(r: Report): "pass" | "fail" | "undecided" {
  if (r.verdicts.some((v) => v.status === "fail")) return "fail";
  if (r.verdicts.some((v) => r.required.has(v.property) && v.status !== "pass")) return "undecided";
  return "pass";
}

export function headline(r: Report): string {
  const parts: string[] = [];
  const failures = r.verdicts.filter((v) => v.status === "fail").map((v) => `${v.property}: ${v.reason}`);
  if (failures.length) parts.push("failed: " + failures.join(", "));
  const unchecked = r.verdicts.filter((v) => v.status === "skipped" || v.status === "undecided");
  const missing = unchecked.filter((v) => r.required.has(v.property)).map((v) => v.property);
  const optional = unchecked.filter((v) => !r.required.has(v.property)).map((v) => v.property);
  if (missing.length) parts.push("required but not checked: " + missing.join(", "));
  if (optional.length) parts.push("not checked: " + optional.join(", "));
  const word = outcome(r).toUpperCase();
  return parts.length ? `${word} (${parts.join("; ")})` : word;
}

/** Python's str ordering: by code point. */
export const codePointOrder = (a: string, b: string): number => {
  const x = [...a], y = [...b];
  for (let i = 0; i < Math.min(x.length, y.length); i++) {
    const d = x[i].codePointAt(0)! - y[i].codePointAt(0)!;
    if (d) return d;
  }
  return x.length - y.length;
};

const jsonInt = (n: bigint | null): number | string | null =>
  n === null ? null : n <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(n) : n.toString();

/** The JSON report. `showFields`: false lists only the disclosed paths; true gives their values
 * when integrity passed (`okeios verify --show-fields`); "always" gives them in every case (a
 * lineage's event reports). */
export function reportToDict(r: Report, showFields: boolean | "always" = false): Record<string, unknown> {
  const verdicts: Record<string, unknown> = {};
  for (const v of r.verdicts) {
    const d: Record<string, unknown> = { property: v.property, result: v.status };
    if (v.reason !== null) d.reason = v.reason;
    if (v.detail) d.detail = v.detail;
    verdicts[v.property] = d;
  }
  const disclosedMap = new Map<string, string>();
  for (const [p, v] of r.disclosed) disclosedMap.set(p, v);
  const integrity = r.verdicts.find((v) => v.property === "integrity");
  // Values are given as the JSON values they are (numbers as doubles, as the reference's JSON
  // output gives them); a text that does not parse (integrity then failed) as itself.
  const asValue = (text: string): unknown => {
    try {
      return JSON.parse(text);
    } catch {
      return text;
    }
  };
  const disclosed = showFields === "always" || (showFields && integrity?.status === "pass")
    ? Object.fromEntries([...disclosedMap].map(([k, v]) => [k, asValue(v)]))
    : [...disclosedMap.keys()].sort(codePointOrder);
  return {
    result: outcome(r),
    headline: headline(r),
    required: [...r.required].sort(),
    notChecked: r.verdicts.filter((v) => v.status === "skipped" || v.status === "undecided").map((v) => v.property),
    event: toHex(r.eventId),
    record: toHex(r.recordId),
    kind: r.kind,
    author: r.author,
    publisher: r.publisher,
    treeSize: jsonInt(r.treeSize),
    verdicts,
    disclosed,
    anchoredBlock: jsonInt(r.anchoredBlock),
    anchoredTime: jsonInt(r.anchoredTime),
    anchoredAt: r.anchoredTime === null ? null : when(r.anchoredTime).replace("+00:00", "Z"),
  };
}

// --- the checks ---------------------------------------------------------------------------------

function checkIntegrity(b: Bundle, record: Bytes | null): Verdict {
  const p: Property = "integrity";
  if (KEY_KINDS.includes(b.event.kind)) {
    if (b.digests.length || b.fields.length || record !== null)
      return failed(p, "field-malformed", "an identity event commits to no content");
    return pass(p, "an identity event commits to no record content");
  }
  let commitment: Bytes;
  try {
    commitment = commitmentFromDigests(b.digests);
  } catch (e) {
    return failed(p, "digests-malformed", (e as Error).message);
  }
  if (!equal(commitment, b.event.commitment))
    return failed(p, "commitment-mismatch", "the field digests do not give the signed commitment");
  const digests = new Set(b.digests.map(toHex));
  const conflict = pathConflict(b.fields.map((f) => f.path));
  if (conflict !== null) return failed(p, "field-conflict", `the disclosed fields are no document: ${conflict}`);
  for (const f of b.fields) {
    if (!digests.has(toHex(fieldDigest(f.salt, f.path, f.value))))
      return failed(p, "field-not-committed", `field ${q(f.path)} is not in the commitment`);
    let parsed: JSONValue;
    let canonical: Bytes;
    try {
      parsed = parseJson(f.value);
      canonical = canonicalBytes(parsed);
    } catch (e) {
      return failed(p, "field-malformed", `field ${q(f.path)}: ${(e as Error).message}`);
    }
    if (!equal(canonical, f.value)) return failed(p, "field-malformed", `field ${q(f.path)} is not canonical JSON`);
    if (isContainer(parsed) && !isEmpty(parsed))
      return failed(p, "field-malformed", `field ${q(f.path)} is not a leaf (a non-empty value)`);
  }
  if (record === null) return pass(p, `${b.fields.length} of ${b.digests.length} fields disclosed and committed`);
  let leaves: [Token[], Bytes][];
  try {
    leaves = [...typedLeaves(parseJson(record))].map(([path, v]) => [path, canonicalBytes(v)]);
  } catch (e) {
    return failed(p, "record-malformed", (e as Error).message);
  }
  const disclosed = new Map(b.fields.map((f) => [pathKey(f.path), f]));
  for (const [path, v] of leaves) {
    const f = disclosed.get(pathKey(path));
    if (f === undefined) {
      if (disclosed.size < b.digests.length)
        return failed(p, "record-not-verifiable",
          `the bundle discloses ${disclosed.size} of ${b.digests.length} fields; field ${q(path)} of the record cannot be checked`);
      return failed(p, "record-mismatch", `the record has a field ${q(path)} not committed`);
    }
    if (!equal(f.value, v)) return failed(p, "record-mismatch", `the record's field ${q(path)} differs`);
  }
  if (leaves.length !== b.digests.length) {
    const seen = new Set(leaves.map(([path]) => pathKey(path)));
    const missing = b.fields.filter((f) => !seen.has(pathKey(f.path))).map((f) => formatPointer(f.path)).sort(codePointOrder);
    const where = missing.length ? ` (missing '${missing[0]}')` : "";
    return failed(p, "record-mismatch", `the record has ${leaves.length} fields, the commitment ${b.digests.length}${where}`);
  }
  return pass(p, `the record matches the commitment (${leaves.length} fields)`);
}

export type Authorities = Map<string, Authority>; // by log id hex

function authorityFor(b: Bundle, policy: Policy, authorities: Authorities | null): [string | null, Authority | null] {
  let org: string | null = null;
  for (const o of policy.organisations.keys()) if (equal(deriveLogId(o), b.event.logId)) org = o;
  if (org === null || authorities === null) return [org, null];
  return [org, authorities.get(toHex(b.event.logId)) ?? null];
}

const allows = (list: Set<string> | "any", who: string) => list === "any" || list.has(who);

function checkAuthenticity(b: Bundle, id: Bytes, policy: Policy, authorities: Authorities | null, proven: AnchorEntry | null): Verdict {
  const p: Property = "authenticity";
  let signer: string;
  try {
    signer = recoverAddress(id, b.signature);
  } catch (e) {
    return failed(p, "signature-malformed", (e as Error).message);
  }
  if (signer !== b.event.author)
    return failed(p, "signature-mismatch", `the signature recovers to ${signer}, the event names ${b.event.author} as its author`);
  const [org, authority] = authorityFor(b, policy, authorities);
  const listed = allows(policy.authors, signer);
  // An organisation's revocation and expiry outrank the policy's explicit lists for every key
  // of its key history (identity rule 4).
  if (listed && (authority === null || !authority.knows(signer))) return pass(p, `signed by ${signer}`);
  if (org === null) return failed(p, "author-not-trusted", `author ${signer} is not in the trust policy`);
  if (authority === null)
    return failed(p, "authorisations-missing",
      `the event is in the log of ${org}, but no authorisation state of that log was given (okeios authors export)`);
  const check = authority.checkAuthor(signer, b.inclusion.index, b.event.time, proven === null ? null : proven.timestamp, policy.organisations.get(org) ?? null);
  if (check.reason !== null) {
    if (listed && !authority.overrides(signer, check)) return pass(p, `signed by ${signer} (listed in the trust policy)`);
    return failed(p, check.reason, check.detail);
  }
  if (!authority.complete)
    return undecided(p, "key-history-incomplete",
      `${signer} passes the key history of ${org}, but the key history cannot be shown complete (${authority.completeness}): a later revocation may have been left out`);
  if (listed) return pass(p, `signed by ${signer}`);
  return pass(p, `signed by ${signer}: ${check.detail}`);
}

function checkInclusion(b: Bundle, id: Bytes, policy: Policy, authorities: Authorities | null): Verdict {
  const p: Property = "inclusion";
  const cp = b.checkpoint;
  let publisher: string;
  try {
    publisher = recoverAddress(checkpointId(cp), cp.signature);
  } catch (e) {
    return failed(p, "checkpoint-signature-malformed", (e as Error).message);
  }
  if (publisher !== cp.publisher)
    return failed(p, "checkpoint-signature-mismatch", `the checkpoint signature recovers to ${publisher}, not ${cp.publisher}`);
  const [org, authority] = authorityFor(b, policy, authorities);
  if (authority !== null && authority.heldTheLog(publisher)) {
    // a key of the organisation's key history: its handovers outrank the explicit lists
    const why = authority.checkCheckpoint(publisher, cp.treeSize);
    if (why !== null) return failed(p, "publisher-retired", why);
  } else if (!allows(policy.publishers, publisher)) {
    if (org === null) return failed(p, "publisher-not-trusted", `publisher ${publisher} is not trusted`);
    if (authority === null) {
      if (publisher !== org)
        return failed(p, "authorisations-missing",
          `${publisher} signs for the log of ${org}, and no handover of that log was given (okeios authors export)`);
    } else {
      const why = authority.checkCheckpoint(publisher, cp.treeSize);
      if (why !== null) return failed(p, authority.heldTheLog(publisher) ? "publisher-retired" : "publisher-not-trusted", why);
    }
  }
  if (!equal(b.event.logId, cp.logId)) return failed(p, "log-mismatch", "the event belongs to another log than the checkpoint");
  const bound = deriveLogId(publisher);
  const handedOver = authority !== null && equal(authority.logId, cp.logId) && authority.heldTheLog(publisher);
  if (!equal(cp.logId, bound) && !handedOver)
    return failed(p, "log-not-bound",
      `log ${toHex(cp.logId)} is not publisher ${publisher}'s log (${toHex(bound)}): a publisher has one log, so this is a second history or another publisher's replay`);
  const inc = b.inclusion;
  if (inc.treeSize !== cp.treeSize)
    return failed(p, "tree-size-mismatch", `the proof is for a tree of ${inc.treeSize}, the checkpoint has ${cp.treeSize}`);
  try {
    verifyInclusion(inc.index, inc.treeSize, leafHash(concat(id, b.signature)), inc.path, cp.root);
  } catch (e) {
    const err = e as OkeiosError;
    return failed(p, err.name === "ProofMismatchError" ? "root-mismatch" : "proof-malformed", err.message);
  }
  return pass(p, `entry ${inc.index} of ${cp.treeSize}, checkpoint signed by ${publisher}`);
}

async function checkChain(b: Bundle, policy: Policy, chain: ChainView | null): Promise<[Verdict, Verdict, AnchorEntry | null]> {
  const a: Property = "anchoring", c: Property = "consistency";
  const cp = b.checkpoint;
  const ref = b.anchor;
  const ext = ref?.extension ?? null;
  let consistencyFailure: Verdict | null = null;
  if (ext !== null) {
    try {
      verifyConsistency(cp.treeSize, ext.treeSize, cp.root, ext.root, ext.proof);
    } catch (e) {
      consistencyFailure = failed(c, "inconsistent-history", `the carried consistency proof: ${(e as Error).message}`);
      if (chain === null) return [skip(a, "no chain given"), consistencyFailure, null];
    }
  }
  if (chain === null) {
    const claim = ref !== null ? `claims anchoring in block ${ref.block} of chain ${ref.chainId}` : "carries no anchor reference";
    return [skip(a, `not checked against a chain: the bundle ${claim}`), skip(c, "not checked against a chain"), null];
  }
  if (policy.chainId === null || policy.registry === null)
    throw new OkeiosError("PolicyError", "checking against a chain needs the chain id and registry pinned");
  const registry = policy.registry;
  const refTrusted = ref === null || (ref.chainId === policy.chainId && toHex(ref.registry) === registry.toLowerCase());
  let actual: bigint;
  let entry: AnchorEntry | null = null, latest: AnchorEntry | null = null, later: AnchorEntry | null = null, head = 0n;
  try {
    actual = await chain.chainId();
    if (actual === policy.chainId && refTrusted) {
      entry = await chain.anchorAt(registry, cp.publisher, cp.logId, cp.treeSize);
      latest = await chain.latest(registry, cp.publisher, cp.logId);
      later = ext === null ? null : await chain.anchorAt(registry, cp.publisher, cp.logId, ext.treeSize);
      head = await chain.head();
    }
  } catch (e) {
    const err = e as OkeiosError;
    if (err.name === "RegistryMissingError") {
      // No registry where the policy says one is (a reset or foreign node): nothing is said
      // about the bundle, so the verdict is undecided, never a failure.
      const detail = `${err.message}: the pinned registry does not exist on this chain (a reset or foreign node?); point --chain at a node that holds the publisher's history`;
      return [undecided(a, "registry-missing", detail), consistencyFailure ?? undecided(c, "registry-missing", detail), null];
    }
    const detail = `the chain could not be read: ${err.message}`;
    return [undecided(a, "chain-unavailable", detail), consistencyFailure ?? undecided(c, "chain-unavailable", detail), null];
  }
  if (actual !== policy.chainId) {
    const detail = `the chain answering is ${actual}, the policy pins ${policy.chainId}`;
    return [failed(a, "chain-mismatch", detail), failed(c, "chain-mismatch", detail), null];
  }
  if (!refTrusted) {
    const detail = `the bundle points at registry ${checksumAddress(ref!.registry)} on chain ${ref!.chainId}; the policy trusts ${registry} on chain ${policy.chainId}`;
    return [failed(a, "registry-not-trusted", detail), failed(c, "registry-not-trusted", detail), null];
  }
  // anchoring
  let anchoring: Verdict;
  let proven: AnchorEntry | null = null;
  // A bundle that claims no anchor, whose checkpoint is newer than every anchor of the log,
  // is pending: undecided until the publisher anchors that size, never a pass.
  const pending = entry === null && ref === null && (latest === null || latest.treeSize < cp.treeSize)
    ? `pending: the checkpoint of size ${cp.treeSize} is newer than every anchor (${latest === null ? "the log was never anchored yet" : `its latest anchor is of size ${latest.treeSize} (block ${latest.blockNumber})`}); decidable once the publisher anchors a tree of size ${cp.treeSize} or more: export the bundle again after its next anchor`
    : null;
  if (pending !== null) {
    anchoring = undecided(a, "anchor-pending", pending);
  } else if (entry === null) {
    anchoring = failed(a, "not-anchored", `publisher ${cp.publisher} never anchored a tree of ${cp.treeSize} in registry ${registry}`);
  } else if (!equal(entry.root, cp.root)) {
    anchoring = failed(a, "anchor-root-mismatch",
      `the registry holds root ${toHex(entry.root).slice(2)} for size ${cp.treeSize}, the checkpoint ${toHex(cp.root).slice(2)}: the publisher signed two histories`);
  } else if (head - entry.blockNumber + 1n < policy.confirmations) {
    anchoring = failed(a, "not-final", `anchored in block ${entry.blockNumber}: ${head - entry.blockNumber + 1n} of ${policy.confirmations} confirmations`);
  } else {
    anchoring = pass(a, `anchored in block ${entry.blockNumber} at ${when(entry.timestamp)}`);
    proven = entry;
  }
  // consistency
  let consistency: Verdict;
  if (consistencyFailure !== null) consistency = consistencyFailure;
  else if (pending !== null) consistency = undecided(c, "anchor-pending", pending);
  else if (latest === null) consistency = failed(c, "consistency-unproven", "the log was never anchored");
  else if (ext !== null && (later === null || !equal(later.root, ext.root)))
    consistency = failed(c, "extension-not-anchored", `the bundle's later tree head (${ext.treeSize}) is not what the registry anchored`);
  else if (ext !== null)
    consistency = pass(c, `the checkpoint (${cp.treeSize}) is consistent with anchor ${ext.treeSize} (proof checked here); the registry enforced consistency up to its latest anchor ${latest.treeSize}`);
  else if (entry !== null && equal(entry.root, cp.root))
    consistency = pass(c, `the checkpoint is anchored; the registry enforced consistency of every later anchor up to ${latest.treeSize}`);
  else
    consistency = failed(c, "consistency-unproven", `nothing links the checkpoint (${cp.treeSize}) to the anchored history (latest anchor ${latest.treeSize})`);
  return [anchoring, consistency, proven];
}

function checkConfidentiality(b: Bundle, ciphertext: Bytes | null): Verdict {
  const p: Property = "confidentiality";
  const e = b.event;
  if (KEY_KINDS.includes(e.kind)) return pass(p, `an identity event (${e.kind} of ${e.subject}) holds no health data`);
  if (equal(e.ciphertextDigest, ZERO_HASH)) return failed(p, "not-encrypted", "the event commits to no encrypted payload");
  const parts = [`the event commits to an encrypted payload (${toHex(e.ciphertextDigest).slice(0, 18)}…)`];
  if (ciphertext !== null) {
    if (!equal(sha256(ciphertext), e.ciphertextDigest)) return failed(p, "ciphertext-mismatch", "the ciphertext given is not the one the event signed");
    parts.push("the ciphertext given is that payload");
  }
  const hidden = b.digests.length - b.fields.length;
  parts.push(`${b.fields.length} of ${b.digests.length} fields disclosed, ${hidden} hidden behind salted digests; no plaintext beyond the disclosed fields is in the bundle`);
  if (["grant", "revoke", "access"].includes(e.kind)) parts.push(`this event records a ${e.kind} for ${e.subject} at ${when(e.time)}`);
  if (e.kind === "erase") parts.push("this event records the record's erasure (its keys and salts destroyed)");
  return pass(p, parts.join("; "));
}

export interface VerifyOptions {
  record?: Bytes | null;
  chain?: ChainView | null;
  ciphertext?: Bytes | null;
  authorities?: Authorities | null;
}

/** Verify a decoded bundle (or its bytes, either form: undecodable bytes throw a typed error). */
export async function verifyBundle(input: Bundle | Bytes, policy: Policy, opts: VerifyOptions = {}): Promise<Report> {
  const b = input instanceof Uint8Array ? loadBundle(input) : input;
  const id = eventId(b.event);
  const [anchoring, consistency, proven] = await checkChain(b, policy, opts.chain ?? null);
  const authorities = opts.authorities ?? null;
  const verdicts = [
    checkIntegrity(b, opts.record ?? null),
    checkAuthenticity(b, id, policy, authorities, proven),
    checkInclusion(b, id, policy, authorities),
    anchoring,
    consistency,
    checkConfidentiality(b, opts.ciphertext ?? null),
  ];
  return {
    eventId: id,
    recordId: b.event.recordId,
    kind: b.event.kind,
    author: b.event.author,
    publisher: b.checkpoint.publisher,
    treeSize: b.checkpoint.treeSize,
    verdicts,
    disclosed: b.fields.map((f) => [formatPointer(f.path), decodeUtf8(f.value) ?? ""]),
    anchoredBlock: proven?.blockNumber ?? null,
    anchoredTime: proven?.timestamp ?? null,
    required: policy.required,
  };
}
