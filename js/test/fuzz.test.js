// Fuzzing the decoder and verifier: every single-byte mutation (and truncation) of a few
// bundles never passes and never escapes as anything but a typed refusal; crafted inputs that
// promise huge sizes stay within a memory bound.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { utf8 } from "../dist/bytes.js";
import { OkeiosError } from "../dist/errors.js";
import { verifyBundle, outcome } from "../dist/verify.js";
import { loadBundle } from "../dist/bundle.js";
import { mutationsOf } from "./mutations.js";
import { JS } from "./common.js";

const FIXTURES = join(JS, "test", "fixtures");
const policy = {
  authors: "any",
  publishers: "any",
  organisations: new Map(),
  chainId: null,
  registry: null,
  confirmations: 1n,
  required: new Set(["integrity", "authenticity", "inclusion", "confidentiality"]),
};

for (const name of ["small.okb", "small.json", "identity.okb"]) {
  test(`every single-byte mutation of ${name} is refused or fails, never passes`, async () => {
    const base = new Uint8Array(readFileSync(join(FIXTURES, name)));
    assert.equal(outcome(await verifyBundle(base, policy)), "pass", "the seed itself verifies");
    let refused = 0, failed = 0;
    for (const m of mutationsOf(base)) {
      try {
        const r = await verifyBundle(m, policy);
        assert.notEqual(outcome(r), "pass", `a mutation passed: ${Buffer.from(m).toString("hex")}`);
        failed++;
      } catch (e) {
        assert.ok(e instanceof OkeiosError, `an untyped error escaped: ${e && e.stack}`);
        refused++;
      }
    }
    assert.ok(refused > 0 && failed > 0, `${refused} refused, ${failed} failed`);
  });
}

const header = (body) => new Uint8Array([0x89, 0x4f, 0x4b, 0x45, 0x49, 0x4f, 0x53, 0x02, ...body]);
const CRAFTED = {
  "a map of 2^32-1 entries": header([0xdf, 0xff, 0xff, 0xff, 0xff]),
  "an array of 2^32-1 elements": header([0x81, 0xa5, ...utf8("event"), 0xdd, 0xff, 0xff, 0xff, 0xff]),
  "a bin of 4 GiB": header([0x81, 0xa5, ...utf8("event"), 0xc6, 0xff, 0xff, 0xff, 0xff, 0x00]),
  "a text of 4 GiB": header([0x81, 0xdb, 0xff, 0xff, 0xff, 0xff]),
  "100,000 nested arrays": header(new Array(100000).fill(0x91)),
  "400,000 empty arrays": header([0xdd, 0x00, 0x06, 0x1a, 0x80, ...new Array(400000).fill(0x90)]),
  "JSON nested 100,000 deep": utf8("{" + '"a":['.repeat(100000)),
  "JSON of 500,000 commas": utf8('{"a":[' + "0,".repeat(500000) + "0]}"),
};

for (const [name, data] of Object.entries(CRAFTED)) {
  test(`${name}: a typed refusal within bounded memory`, () => {
    globalThis.gc?.();
    const before = process.memoryUsage().heapUsed;
    assert.throws(() => loadBundle(data), (e) => e instanceof OkeiosError);
    const grown = process.memoryUsage().heapUsed - before;
    assert.ok(grown < 64 * 1024 * 1024 + 20 * data.length, `heap grew by ${grown} bytes for ${data.length} bytes of input`);
  });
}
