// Agreement with the reference (Python) verifier: bundles made from the shared FHIR examples,
// honest and tampered, verified by both command lines; and every single-byte mutation of a
// bundle in both forms. Each case's verdict JSON must match (detail sentences excepted).
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { runCase, normalise } from "./agree.js";
import { mutationsOf, summary } from "./mutations.js";
import { ROOT, SHARED, CI, findPython } from "./common.js";
import { verifyBundle, reportToDict } from "../dist/verify.js";
import { OkeiosError } from "../dist/errors.js";
import { policyFrom } from "./common.js";

const python = findPython();
const fhir = join(SHARED, "fhir", "r4-examples");
const out = join(ROOT, "build", "js-agreement");
const ready = python !== null && existsSync(fhir);
const why = python === null ? "no Python environment (.venv) with okeios" : `no shared FHIR examples at ${fhir}`;

test("the agreement fixtures can be made", { skip: !ready && !CI ? why : false }, () => {
  assert.ok(ready, why);
  rmSync(out, { recursive: true, force: true });
  execFileSync(python, ["-m", "tests.jsverify.cases", out, "--fhir", fhir], { cwd: ROOT, stdio: ["ignore", "ignore", "inherit"] });
  assert.ok(existsSync(join(out, "cases.json")));
});

test("both command lines agree on every FHIR case", { skip: !ready && !CI ? why : false }, async () => {
  const cases = JSON.parse(readFileSync(join(out, "cases.json"), "utf8"));
  assert.ok(cases.length > 100, `only ${cases.length} cases`);
  const outcomes = new Set();
  for (const c of cases) {
    const got = await runCase(c.argv, out);
    assert.equal(got.exit, c.exit, `${c.name}: exit`);
    assert.deepEqual(JSON.parse(JSON.stringify(normalise(got.output))), JSON.parse(JSON.stringify(normalise(c.output))), c.name);
    outcomes.add(c.exit);
  }
  assert.deepEqual([...outcomes].sort(), [0, 1, 2], "the cases cover pass, fail and undecided");
});

test("both verifiers agree on every single-byte mutation", { skip: !ready && !CI ? why : false }, async () => {
  const expected = JSON.parse(readFileSync(join(out, "mutations.json"), "utf8"));
  const cases = JSON.parse(readFileSync(join(out, "cases.json"), "utf8"));
  const trust = cases[0].argv;
  const list = (flag) => trust.flatMap((x, i) => (trust[i - 1] === flag ? [x] : []));
  const policy = policyFrom({ authors: list("--author"), publishers: list("--publisher") });
  for (const [name, want] of Object.entries(expected)) {
    const base = new Uint8Array(readFileSync(join(out, name)));
    let i = 0;
    for (const m of mutationsOf(base)) {
      let entry;
      try {
        entry = reportToDict(await verifyBundle(m, policy));
      } catch (e) {
        if (!(e instanceof OkeiosError)) throw e;
        entry = { result: "undecided", error: e.name };
      }
      assert.equal(summary(entry), want[i], `${name} mutation ${i}`);
      i++;
    }
    assert.equal(i, want.length);
  }
});
