// Every conformance vector (docs/spec/vectors.md): bundles, key histories and log proofs.
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fromHex, utf8, toHex } from "../dist/bytes.js";
import { loadBundle } from "../dist/bundle.js";
import { refusalClass } from "../dist/errors.js";
import { parseAddress } from "../dist/crypto.js";
import { loadAuthority } from "../dist/keyhistory.js";
import { verifyInclusion, verifyConsistency, leafHash } from "../dist/merkle.js";
import { outcome, verifyBundle } from "../dist/verify.js";
import { CI, VECTORS, policyFrom, recordedChain } from "./common.js";

const load = (name) => JSON.parse(readFileSync(join(VECTORS, name), "utf8"));
const bytesOf = (input) => (input.binary !== undefined ? fromHex("0x" + input.binary) : utf8(input.json));
const EXIT = { pass: 0, fail: 1, undecided: 2 };

// Under CI a missing vector folder fails; elsewhere (a checkout without them) it is skipped
// with a message, never passed.
const present = existsSync(join(VECTORS, "bundles.json"));
test("the conformance vectors are present", { skip: !present && !CI ? `no vectors at ${VECTORS}` : false }, () => {
  assert.ok(present, `no vectors at ${VECTORS}`);
});

async function authoritiesFor(c, policy, chain) {
  if (c.keyHistory === undefined) return null;
  const a = await loadAuthority(utf8(c.keyHistory), policy, chain);
  return new Map([[toHex(a.logId), a]]);
}

if (existsSync(join(VECTORS, "bundles.json"))) {
  const file = load("bundles.json");
  assert.equal(file.format, "okeios-conformance");
  for (const c of file.cases) {
    test(`bundle vector ${c.name}`, async () => {
      const policy = policyFrom(c.policy);
      const chain = c.chain === undefined ? null : recordedChain(c.chain);
      let bundle;
      try {
        bundle = loadBundle(bytesOf(c.bundle));
      } catch (e) {
        assert.ok(c.expect.error !== undefined, `refused unexpectedly: ${e.name}: ${e.message}`);
        assert.equal(refusalClass(e.name), c.expect.error, `${e.name}: ${e.message}`);
        assert.equal(c.expect.exit, 2);
        return;
      }
      assert.equal(c.expect.error, undefined, "decoded a bundle the vector refuses");
      let authorities;
      try {
        authorities = await authoritiesFor(c, policy, chain);
      } catch (e) {
        assert.ok(c.expect.keyHistoryError, `key history refused unexpectedly: ${e.message}`);
        return;
      }
      assert.ok(!c.expect.keyHistoryError, "a key history the vector refuses was accepted");
      const report = await verifyBundle(bundle, policy, {
        record: c.record === undefined ? null : utf8(c.record),
        ciphertext: c.ciphertext === undefined ? null : fromHex("0x" + c.ciphertext.replace(/^0x/, "")),
        chain,
        authorities,
      });
      const got = Object.fromEntries(report.verdicts.map((v) => [v.property, v.reason === null ? { result: v.status } : { result: v.status, reason: v.reason }]));
      for (const [prop, want] of Object.entries(c.expect.verdicts)) assert.deepEqual(got[prop], want, `${prop}: ${JSON.stringify(report.verdicts.find((v) => v.property === prop))}`);
      assert.equal(outcome(report), c.expect.result);
      assert.equal(EXIT[outcome(report)], c.expect.exit);
    });
  }
}

if (existsSync(join(VECTORS, "keyhistories.json"))) {
  for (const c of load("keyhistories.json").cases) {
    test(`key-history vector ${c.name}`, async () => {
      const policy = policyFrom(c.policy);
      const chain = c.chain === undefined ? null : recordedChain(c.chain);
      let authority;
      try {
        authority = await loadAuthority(utf8(c.keyHistory), policy, chain);
      } catch (e) {
        assert.equal(c.expect.refused, true, `refused unexpectedly: ${e.message}`);
        return;
      }
      assert.equal(c.expect.refused, false, "a key history the vector refuses was accepted");
      const checks = (c.checks ?? []).map((k) => {
        const r = authority.checkAuthor(parseAddress(k.author), BigInt(k.index), BigInt(k.time),
          k.provenTime === undefined || k.provenTime === null ? null : BigInt(k.provenTime), k.roles ? new Set(k.roles) : null);
        return r.reason ?? "pass";
      });
      assert.deepEqual(checks, c.expect.checks ?? []);
      const cps = (c.checkpointChecks ?? []).map((k) => (authority.checkCheckpoint(parseAddress(k.publisher), BigInt(k.treeSize)) === null ? "pass" : "refused"));
      assert.deepEqual(cps, c.expect.checkpointChecks ?? []);
    });
  }
}

if (existsSync(join(VECTORS, "log.json"))) {
  for (const c of load("log.json").cases) {
    test(`log vector ${c.name}`, () => {
      const h = (x) => fromHex(x);
      let got = "pass";
      try {
        const proof = c.proof.map(h);
        if (proof.some((p) => p === null || p.length !== 32)) throw Object.assign(new Error("hash size"), { name: "ProofError" });
        if (c.type === "inclusion") verifyInclusion(BigInt(c.index), BigInt(c.treeSize), leafHash(h(c.entry)), proof, h(c.root));
        else verifyConsistency(BigInt(c.oldSize), BigInt(c.newSize), h(c.oldRoot), h(c.newRoot), proof);
      } catch (e) {
        got = e.name === "ProofMismatchError" ? "root-mismatch" : "proof-malformed";
      }
      assert.equal(got, c.expect);
    });
  }
}

if (existsSync(join(VECTORS, "lineage.json"))) {
  const { verifyLineage, lineageOutcome } = await import("../dist/lineage.js");
  for (const c of load("lineage.json").cases) {
    test(`lineage vector ${c.name}`, async () => {
      const policy = policyFrom(c.policy);
      const chain = c.chain === undefined ? null : recordedChain(c.chain);
      const l = await verifyLineage(c.bundles.map(bytesOf), policy, {
        chain,
        tolerance: c.tolerance === undefined ? undefined : BigInt(c.tolerance),
      });
      const got = l.verdict.reason === null ? { result: l.verdict.status } : { result: l.verdict.status, reason: l.verdict.reason };
      assert.deepEqual(got, c.expect.lineage, l.verdict.detail);
      assert.equal(lineageOutcome(l), c.expect.result);
      if (c.expect.exit !== undefined) assert.equal(EXIT[lineageOutcome(l)], c.expect.exit);
    });
  }
}

if (existsSync(join(VECTORS, "shares.json"))) {
  const { openShare } = await import("../dist/share.js");
  const SHARE_ERRORS = { DecryptionError: "decryption-failed", WrongSuiteError: "wrong-suite" };
  for (const c of load("shares.json").cases) {
    test(`share vector ${c.name}`, async () => {
      const policy = policyFrom(c.policy);
      const chain = c.chain === undefined ? null : recordedChain(c.chain);
      let opened;
      try {
        opened = await openShare(utf8(c.share), fromHex("0x" + c.recipientKey.replace(/^0x/, "")), policy, chain);
      } catch (e) {
        assert.ok(c.expect.error !== undefined, `refused unexpectedly: ${e.name}: ${e.message}`);
        assert.equal(SHARE_ERRORS[e.name] ?? refusalClass(e.name), c.expect.error, `${e.name}: ${e.message}`);
        return;
      }
      assert.equal(c.expect.error, undefined, "opened a share the vector refuses");
      const got = Object.fromEntries(opened.report.verdicts.map((v) => [v.property, v.reason === null ? { result: v.status } : { result: v.status, reason: v.reason }]));
      for (const [prop, want] of Object.entries(c.expect.verdicts)) assert.deepEqual(got[prop], want, prop);
      assert.equal(outcome(opened.report), c.expect.result);
      if (c.expect.record !== undefined) assert.equal(Buffer.from(opened.record).toString("utf8"), c.expect.record);
    });
  }
}
