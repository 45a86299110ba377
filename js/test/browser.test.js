// The verify page in a real browser: headless Chromium (the system's) driven by playwright-core.
// A passing and a failing bundle are checked and screenshotted under build/; the page makes no
// network request; disclosed values are shown escaped; a ~2 KB bundle verifies in < 50 ms.
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { chromium } from "playwright-core";
import { buildPage } from "../scripts/build-page.js";
import { JS, ROOT, CI } from "./common.js";

const CHROMIUM = process.env.OKEIOS_CHROMIUM ?? "/usr/bin/chromium";
const ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"];
const FIXTURES = join(JS, "test", "fixtures");
const BUILD = join(ROOT, "build");
const skip = !existsSync(CHROMIUM) && !CI ? `no Chromium at ${CHROMIUM}` : false;

test("the verify page in Chromium", { skip, timeout: 180_000 }, async (t) => {
  mkdirSync(BUILD, { recursive: true });
  const pagePath = join(BUILD, "verify-page.html");
  writeFileSync(pagePath, buildPage());
  const small = readFileSync(join(FIXTURES, "small.okb"));
  const tampered = readFileSync(join(FIXTURES, "small.json"), "utf8").replace('\\"4548-4\\"', '\\"4548-5\\"');
  assert.ok(tampered.includes("4548-5"), "the fixture discloses the LOINC code");
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS });
  try {
    const page = await browser.newPage({ viewport: { width: 1000, height: 900 } });
    const requests = [];
    page.on("request", (r) => requests.push(r.url()));
    const errors = [];
    page.on("pageerror", (e) => errors.push(String(e)));
    await page.goto(pathToFileURL(pagePath).href);
    await page.waitForSelector("body[data-state=ready]");
    const check = async (name, buffer, mimeType) => {
      await page.evaluate(() => { document.body.dataset.state = "waiting"; });
      await page.setInputFiles("#bundle", { name, mimeType, buffer: Buffer.from(buffer) });
      await page.waitForSelector("body[data-state=done]");
      return page.getAttribute(".headline", "data-outcome");
    };

    await t.test("an honest bundle passes, in plain words", async () => {
      assert.equal(await check("observation.okb", small, "application/octet-stream"), "pass");
      const text = await page.textContent("#result");
      assert.match(text, /Verified/);
      assert.match(text, /exactly the ones that were signed/);
      assert.match(text, /"4548-4"/);
      await page.screenshot({ path: join(BUILD, "verify-page-pass.png"), fullPage: true });
    });

    await t.test("a bundle whose lab code was changed fails, and hides its fields", async () => {
      assert.equal(await check("observation.json", tampered, "application/json"), "fail");
      const failed = await page.$$eval("li.verdict.fail", (els) => els.map((e) => e.dataset.property));
      assert.deepEqual(failed, ["integrity"]);
      assert.match(await page.textContent("#result"), /not part of what was signed/);
      assert.equal(await page.$("table.fields"), null);
      await page.screenshot({ path: join(BUILD, "verify-page-fail.png"), fullPage: true });
    });

    await t.test("a file that is no bundle is refused by name", async () => {
      assert.equal(await check("notes.txt", Buffer.from("hello"), "text/plain"), "undecided");
      assert.match(await page.textContent("#result"), /not a valid okeios proof.*bad-magic/s);
    });

    await t.test("disclosed values are shown as text, never as markup", async () => {
      assert.equal(await check("markup.okb", readFileSync(join(FIXTURES, "markup.okb")), "application/octet-stream"), "pass");
      const cells = await page.$$eval("td.value", (els) => els.map((e) => e.textContent));
      assert.ok(cells.some((c) => c.includes("<img src=x onerror=alert(1)><script>alert(2)</script>\\u001b[2J\\u202eevil")), cells.join(" | "));
      assert.equal(await page.$$eval("#result img, #result script", (els) => els.length), 0);
      await page.screenshot({ path: join(BUILD, "verify-page-markup.png"), fullPage: true });
    });

    await t.test("a ~2 KB bundle verifies in under 50 ms", async () => {
      const times = [];
      for (let i = 0; i < 15; i++) {
        await check(`observation-${i}.okb`, small, "application/octet-stream");
        times.push(Number(await page.getAttribute("body", "data-ms")));
      }
      const sorted = [...times].sort((a, b) => a - b);
      const median = sorted[Math.floor(sorted.length / 2)];
      console.log(`verify page: a ${small.length}-byte bundle verified in ${median.toFixed(1)} ms (median of ${times.length}; first ${times[0].toFixed(1)} ms, fastest ${sorted[0].toFixed(1)} ms)`);
      assert.ok(median < 50, `median ${median} ms`);
    });

    await t.test("the page made no network request", () => {
      const remote = requests.filter((u) => !u.startsWith("file:") && !u.startsWith("data:"));
      assert.deepEqual(remote, []);
      assert.deepEqual(errors, []);
    });
  } finally {
    await browser.close();
  }
});
