// A record's history from the bundles of its events (the lineage rules): one record, one log,
// no two bundles of one event that disagree, every event verified, then the chain rules (no
// fork, gap, reordering or duplicate; versions; times never decrease; nothing after ERASE)
// and no event claiming a time too long before the anchor that proves it.

import { Bytes, equal, toHex } from "./bytes.js";
import { Bundle, KEY_KINDS, ZERO_HASH, loadBundle } from "./bundle.js";
import { formatPointer, Token } from "./canonical.js";
import { pathConflict, pathKey } from "./commitment.js";
import { Event, eventId } from "./crypto.js";
import { when } from "./identity.js";
import { Authorities, ChainView, Policy, Report, Verdict, outcome, verifyBundle } from "./verify.js";

export interface LineageReport {
  recordId: Bytes;
  verdict: { status: "pass" | "fail"; reason: string | null; detail: string };
  reports: Report[];
  bundles: Bundle[];
}

const starts = (e: Event) => e.kind === "create" || e.kind === "derive" || (KEY_KINDS.includes(e.kind) && equal(e.previous, ZERO_HASH));

function advance(head: Event | null, e: Event, tolerance: bigint): [string, string][] {
  if (starts(e)) return head !== null ? [["bad-start", `record ${toHex(e.recordId)} starts a second time`]] : [];
  if (head === null) return [["bad-start", `this ${e.kind} follows no event of its record`]];
  if (!equal(head.recordId, e.recordId)) return [["bad-start", "the predecessor belongs to another record"]];
  const broken: [string, string][] = [];
  if (head.kind === "erase") broken.push(["after-erase", `this ${e.kind} follows the record's ${head.kind}, which is terminal`]);
  const expected = head.version + (e.kind === "amend" ? 1n : 0n);
  // an identity event's version is its number among the log's identity events: it grows along
  // a key's chain (a log made before numbering repeats 1)
  const wrong = KEY_KINDS.includes(e.kind)
    ? e.version <= head.version && !(e.version === 1n && head.version === 1n)
    : e.version !== expected;
  if (wrong) broken.push(["bad-version", `version ${e.version} after version ${head.version} (${e.kind})`]);
  if (e.time + tolerance < head.time)
    broken.push(["time-reversed", `this ${e.kind} claims ${when(e.time)}, ${head.time - e.time} s before the ${head.kind} it follows; times never decrease along a record's chain`]);
  return broken;
}

/** The chain-rule defects of (index, event, id) entries in log order: [reason, index, detail]. */
function checkChain(entries: [bigint, Event, string][], orderTolerance: bigint): [string, bigint, string][] {
  const defects: [string, bigint, string][] = [];
  const position = new Map<string, bigint>();
  for (const [index, , id] of entries) {
    if (position.has(id)) defects.push(["duplicate-entry", index, `event ${id} was already logged at index ${position.get(id)}`]);
    else position.set(id, index);
  }
  const byId = new Map(entries.map(([, e, id]) => [id, e]));
  const heads = new Map<string, [Event, string]>();
  const claimed = new Map<string, bigint>();
  const seen = new Set<string>();
  for (const [index, e, id] of entries) {
    const rid = toHex(e.recordId);
    if (seen.has(id)) continue;
    seen.add(id);
    if (starts(e)) {
      const head = heads.get(rid);
      for (const [r, d] of advance(head ? head[0] : null, e, 0n)) defects.push([r, index, d]);
      heads.set(rid, [e, id]);
      continue;
    }
    const previous = toHex(e.previous);
    if (claimed.has(previous)) {
      defects.push(["fork", index, `event ${id} and the event at index ${claimed.get(previous)} both claim ${previous} as their predecessor`]);
      continue;
    }
    claimed.set(previous, index);
    const prior = byId.get(previous);
    if (prior === undefined) {
      defects.push(["missing-entry", index, `the predecessor ${previous} of this ${e.kind} is not in the log`]);
      heads.set(rid, [e, id]);
      continue;
    }
    if (position.get(previous)! > index) {
      defects.push(["reordered", index, `this ${e.kind} comes before its predecessor (index ${position.get(previous)})`]);
      continue;
    }
    if (!heads.has(rid)) {
      defects.push(["bad-start", index, "the predecessor belongs to another record"]);
      continue;
    }
    const steps = advance(prior, e, orderTolerance);
    for (const [r, d] of steps) defects.push([r, index, d]);
    if (steps.some(([r]) => r === "bad-start")) continue;
    heads.set(rid, [e, id]);
  }
  return defects.map((d, i) => [d, i] as const).sort((a, b) => (a[0][1] < b[0][1] ? -1 : a[0][1] > b[0][1] ? 1 : a[1] - b[1])).map(([d]) => d);
}

export async function verifyLineage(
  inputs: (Bundle | Bytes)[],
  policy: Policy,
  opts: { chain?: ChainView | null; tolerance?: bigint; orderTolerance?: bigint; authorities?: Authorities | null } = {},
): Promise<LineageReport> {
  const decoded = inputs.map((b) => (b instanceof Uint8Array ? loadBundle(b) : b));
  if (!decoded.length) throw new Error("a lineage needs at least one bundle");
  const order = decoded.map((b, i) => [b, i] as const).sort((x, y) => (x[0].inclusion.index < y[0].inclusion.index ? -1 : x[0].inclusion.index > y[0].inclusion.index ? 1 : x[1] - y[1]));
  const bundles = order.map(([b]) => b);
  const reports: Report[] = [];
  for (const b of bundles) reports.push(await verifyBundle(b, policy, { chain: opts.chain ?? null, authorities: opts.authorities ?? null }));
  const result = (status: "pass" | "fail", reason: string | null, detail: string): LineageReport => ({
    recordId: bundles[0].event.recordId, verdict: { status, reason, detail }, reports, bundles,
  });
  if (new Set(bundles.map((b) => toHex(b.event.recordId))).size !== 1) return result("fail", "mixed-records", "the bundles are about several records");
  if (new Set(bundles.map((b) => toHex(b.event.logId))).size !== 1)
    return result("fail", "mixed-logs", "the bundles come from several logs: one record lives in exactly one log");
  const ids = reports.map((r) => toHex(r.eventId));
  const byEvent = new Map<string, Bundle[]>();
  bundles.forEach((b, i) => byEvent.set(ids[i], [...(byEvent.get(ids[i]) ?? []), b]));
  for (const same of byEvent.values()) {
    if (same.length < 2) continue;
    const unique = new Map<string, Token[]>();
    for (const b of same) for (const f of b.fields) unique.set(pathKey(f.path), f.path);
    let conflict = pathConflict([...unique.values()]);
    const values = new Map<string, Bytes>();
    for (const b of same)
      for (const f of b.fields) {
        const k = pathKey(f.path);
        const v = values.get(k);
        if (v === undefined) values.set(k, f.value);
        else if (!equal(v, f.value)) conflict = `'${formatPointer(f.path)}' is disclosed with two values`;
      }
    if (conflict !== null)
      return result("fail", "equivocation", `two bundles of the ${same[0].event.kind} ${toHex(eventId(same[0].event))} disagree: ${conflict}; its author committed to two documents`);
  }
  for (let i = 0; i < bundles.length; i++)
    for (const v of reports[i].verdicts)
      if (["authenticity", "inclusion", "anchoring"].includes(v.property) && v.status === "fail") {
        const named = v.reason === "log-not-bound";
        return result("fail", named ? "log-not-bound" : "event-unverified", `the ${bundles[i].event.kind} at index ${bundles[i].inclusion.index}: ${v.property} failed (${v.reason})`);
      }
  const defects = checkChain(bundles.map((b, i) => [b.inclusion.index, b.event, ids[i]]), opts.orderTolerance ?? 0n);
  if (defects.length) return result("fail", defects[0][0], defects[0][2]);
  const tolerance = opts.tolerance ?? 86400n;
  for (let i = 0; i < bundles.length; i++) {
    const t = reports[i].anchoredTime;
    if (t !== null && t - bundles[i].event.time > tolerance)
      return result("fail", "backdated", `the ${bundles[i].event.kind} at index ${bundles[i].inclusion.index} claims a time ${t - bundles[i].event.time} s before the anchor that proves it`);
  }
  const versions = bundles.map((b) => b.event.version);
  const detail = `${bundles.length} events (${bundles.map((b) => b.event.kind).join(", ")}), versions ${versions[0]}..${versions[versions.length - 1]}, signed, included, in order, no fork, no gap`;
  const iso = (t: bigint) => when(t).replace("+00:00", "Z");
  const access = bundles
    .map((b) => b.event)
    .flatMap((e) => (["grant", "revoke", "access"].includes(e.kind) ? [`${e.kind} ${e.subject} at ${iso(e.time)}`] : e.kind === "erase" ? [`erased at ${iso(e.time)}`] : []))
    .join(", ");
  const full = access ? `${detail}; ${access}` : detail;
  return result("pass", null, full + (opts.chain ? ", anchored in time" : "; anchors not checked (no chain)"));
}

/** The run's outcome as the command line combines it: fail if anything failed, else
 * undecided if a report was not decided, else pass. */
export function lineageOutcome(l: LineageReport): "pass" | "fail" | "undecided" {
  const outcomes = [...l.reports.map(outcome), l.verdict.status];
  if (outcomes.includes("fail")) return "fail";
  return outcomes.every((o) => o === "pass") ? "pass" : "undecided";
}

export type { Verdict };
