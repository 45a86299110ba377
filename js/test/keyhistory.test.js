// Agreement with the reference (Python) verifier on key histories beyond the vectors: the
// vectors' key-history bundle cases with their tail altered (dropped, shortened, renumbered, a
// proof or signature changed, malformed entries) and with the bundle's author or publisher
// listed explicitly in the policy (an organisation's revocation, expiry and handovers outrank
// explicit lists); and the lineage of every key in those histories (an identity event's version
// numbers the log's identity events, so it grows along a key's chain). Each case is run through `tests/conformance/runner.py` and through this
// verifier; the outcomes (verdicts, or the key history refused) must be the same.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fromHex, utf8, toHex } from "../dist/bytes.js";
import { loadBundle } from "../dist/bundle.js";
import { loadAuthority } from "../dist/keyhistory.js";
import { outcome, verifyBundle } from "../dist/verify.js";
import { lineageOutcome, verifyLineage } from "../dist/lineage.js";
import { CI, ROOT, VECTORS, findPython, policyFrom, recordedChain } from "./common.js";

const python = findPython();
const vectors = join(VECTORS, "bundles.json");
const ready = python !== null && existsSync(vectors);
const why = python === null ? "no Python environment (.venv) with okeios" : `no vectors at ${VECTORS}`;
const EXIT = { pass: 0, fail: 1, undecided: 2 };
const bytesOf = (input) => (input.binary !== undefined ? fromHex("0x" + input.binary) : utf8(input.json));

/** The outcome of a bundle case with a key history, in the shape of a vector's `expect`. */
async function run(c) {
  const policy = policyFrom(c.policy);
  const chain = c.chain === undefined ? null : recordedChain(c.chain);
  let authorities;
  try {
    const a = await loadAuthority(utf8(c.keyHistory), policy, chain);
    authorities = new Map([[toHex(a.logId), a]]);
  } catch (e) {
    if (e.name !== "IdentityError") throw e;
    return { keyHistoryError: true, result: "undecided", exit: 2 };
  }
  if (c.bundles !== undefined) {
    const l = await verifyLineage(c.bundles.map(bytesOf), policy, { chain, authorities });
    const v = l.verdict;
    const result = lineageOutcome(l);
    return { result, exit: EXIT[result], lineage: v.reason === null ? { result: v.status } : { result: v.status, reason: v.reason } };
  }
  const report = await verifyBundle(loadBundle(bytesOf(c.bundle)), policy, { chain, authorities });
  const verdicts = Object.fromEntries(report.verdicts.map((v) => [v.property, v.reason === null ? { result: v.status } : { result: v.status, reason: v.reason }]));
  return { result: outcome(report), exit: EXIT[outcome(report)], verdicts };
}

// JSON text parsed and written again without losing integers beyond 2^53 (a notAfter of 2^64 - 1)
const BIG = "~big~";
const parse = (text) => JSON.parse(text.replace(/(:\s*)(\d{16,})(?=\s*[,}\]])/g, `$1"${BIG}$2"`));
const write = (value) => JSON.stringify(value, null, 2).replace(/"~big~(\d+)"/g, "$1");

const flip = (hex) => hex.slice(0, -1) + (hex.endsWith("0") ? "1" : "0");

/** Variants of one key history's tail: [label, edit of the parsed file]. */
const TAIL_EDITS = [
  ["no tail", (k) => { delete k.tail; }],
  ["a null tail", (k) => { k.tail = null; }],
  ["a tail that is not a list", (k) => { k.tail = {}; }],
  ["the last tail entry dropped", (k) => { k.tail.pop(); }],
  ["a tail entry repeated", (k) => { k.tail.push(k.tail[k.tail.length - 1]); }],
  ["a tail entry renumbered", (k) => { k.tail[0].index += 1; }],
  ["a tail index written as text", (k) => { k.tail[0].index = String(k.tail[0].index); }],
  ["a tail proof hash changed", (k) => { k.tail[0].proof[0] = flip(k.tail[0].proof[0]); }],
  ["a tail proof hash dropped", (k) => { k.tail[0].proof.pop(); }],
  ["a tail signature changed", (k) => { k.tail[0].signature = flip(k.tail[0].signature); }],
  ["a tail event changed", (k) => { k.tail[0].event.time += 1; }],
  ["a tail signature too short", (k) => { k.tail[0].signature = k.tail[0].signature.slice(0, -2); }],
  ["a tail signature in upper case", (k) => { k.tail[0].signature = "0x" + k.tail[0].signature.slice(2).toUpperCase(); }],
  ["a tail entry with an extra member", (k) => { k.tail[0].extra = 1; }],
  ["a tail entry without its proof", (k) => { delete k.tail[0].proof; }],
  ["a tail event missing a field", (k) => { delete k.tail[0].event.purpose; }],
  ["a tail event with an unknown field", (k) => { k.tail[0].event.extra = 0; }],
  ["a tail event with a bad hash", (k) => { k.tail[0].event.logId = k.tail[0].event.logId.slice(0, -2); }],
  ["a tail event address in lower case", (k) => { k.tail[0].event.author = k.tail[0].event.author.toLowerCase(); }],
  ["an unknown member beside the tail", (k) => { k.tails = []; }],
];

function variants(file) {
  const out = [];
  const histories = new Set();
  for (const base of file.cases) {
    if (base.keyHistory === undefined) continue;
    const history = parse(base.keyHistory);
    if (!histories.has(base.keyHistory)) {
      histories.add(base.keyHistory);
      const byKey = new Map();
      for (const b of history.bundles) byKey.set(b.event.subject, [...(byKey.get(b.event.subject) ?? []), b]);
      for (const [key, bundles] of byKey)
        if (bundles.length > 1)
          out.push({ name: `${base.name}: the lineage of ${key}`, policy: base.policy, keyHistory: base.keyHistory,
            ...(base.chain === undefined ? {} : { chain: base.chain }), bundles: bundles.map((b) => ({ json: write(b) })) });
    }
    for (const [label, edit] of TAIL_EDITS) {
      const k = structuredClone(history);
      try {
        edit(k);
      } catch {
        continue; // the edit needs a tail entry this history does not have
      }
      out.push({ ...base, name: `${base.name}: ${label}`, keyHistory: write(k) });
    }
    const b = loadBundle(bytesOf(base.bundle));
    out.push({ ...base, name: `${base.name}: its author listed`, policy: { ...base.policy, authors: [b.event.author] } });
    out.push({ ...base, name: `${base.name}: any author`, policy: { ...base.policy, authors: "*" } });
    out.push({ ...base, name: `${base.name}: its publisher listed`, policy: { ...base.policy, publishers: [b.checkpoint.publisher] } });
  }
  return out;
}

test("both verifiers agree on altered key histories and explicit lists", { skip: !ready && !CI ? why : false }, async () => {
  assert.ok(ready, why);
  const cases = variants(JSON.parse(readFileSync(vectors, "utf8")));
  assert.ok(cases.length > 100, `only ${cases.length} cases`);
  const script = [
    "import json, sys",
    "from tests.conformance.runner import run_case",
    "print(json.dumps([run_case(c) for c in json.load(sys.stdin)]))",
  ].join("\n");
  const want = JSON.parse(execFileSync(python, ["-c", script], { cwd: ROOT, input: JSON.stringify(cases), maxBuffer: 64 << 20 }).toString());
  const seen = new Set();
  for (let i = 0; i < cases.length; i++) {
    const got = await run(cases[i]);
    assert.deepEqual(got, want[i], cases[i].name);
    if (got.lineage !== undefined) {
      seen.add(`lineage ${got.lineage.result}`);
      continue;
    }
    seen.add(got.keyHistoryError ? "refused" : `${got.verdicts.authenticity.result}/${got.verdicts.authenticity.reason ?? ""}/${got.verdicts.inclusion.reason ?? ""}`);
  }
  // the variants reach every rule this file is about
  for (const s of ["refused", "undecided/key-history-incomplete/", "pass//", "fail/author-revoked/", "fail/author-expired/", "pass//publisher-retired", "lineage pass"])
    assert.ok(seen.has(s), `no variant gave ${s}: ${[...seen].join(", ")}`);
});
