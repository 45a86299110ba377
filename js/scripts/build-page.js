#!/usr/bin/env node
// Builds the verify page: one self-contained HTML file. Every ES module the page needs (the
// compiled verifier in dist/ and the @noble modules it imports) is inlined as a data: URL
// under an import map, so the page loads nothing from anywhere. The output is deterministic.
//
//   node scripts/build-page.js            write dist/verify.html and the copy the Python
//                                         package ships (okeios/assets/verify-page.html)
//   node scripts/build-page.js --check    fail unless the shipped copy equals a fresh build
//   node scripts/build-page.js --stdout   print the page
import { readFileSync, writeFileSync, existsSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const JS = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const SHIPPED = join(JS, "..", "okeios", "assets", "verify-page.html");
const ENTRY = join(JS, "dist", "page.js");

const IMPORT = /^(\s*(?:import|export)\b[^;'"]*?\bfrom\s*)(["'])([^"']+)\2|^(\s*import\s*)(["'])([^"']+)\5/gm;

function resolveSpecifier(spec, from) {
  if (spec.startsWith("./") || spec.startsWith("../")) return resolve(dirname(from), spec);
  const m = /^(@[^/]+\/[^/]+|[^@/][^/]*)(\/.*)?$/.exec(spec);
  if (!m) throw new Error(`cannot resolve ${spec} from ${from}`);
  const pkgDir = join(JS, "node_modules", m[1]);
  const pkg = JSON.parse(readFileSync(join(pkgDir, "package.json"), "utf8"));
  const sub = "." + (m[2] ?? "");
  let target = pkg.exports?.[sub];
  if (target && typeof target === "object") target = target.import ?? target.default;
  if (typeof target !== "string") throw new Error(`${spec}: not exported by ${m[1]}`);
  return join(pkgDir, target);
}

export function buildPage() {
  const ids = new Map();
  const sources = new Map();
  const keyOf = (file) => "okeios/" + relative(JS, file).split("\\").join("/").replace(/^dist\//, "").replace(/\.js$/, "");
  const visit = (file) => {
    if (ids.has(file)) return;
    ids.set(file, keyOf(file));
    const text = readFileSync(file, "utf8").replace(/^\/\/# sourceMappingURL=.*$/m, "");
    const deps = [];
    const rewritten = text.replace(IMPORT, (all, p1, q1, s1, p2, q2, s2) => {
      const spec = s1 ?? s2;
      const target = resolveSpecifier(spec, file);
      deps.push(target);
      return `${p1 ?? p2}"${keyOf(target)}"`;
    });
    sources.set(file, rewritten);
    deps.forEach(visit);
  };
  if (!existsSync(ENTRY)) throw new Error("dist/page.js is missing: run tsc first");
  visit(ENTRY);
  const imports = {};
  for (const file of [...ids.keys()].sort()) {
    const key = ids.get(file) === keyOf(ENTRY) ? "okeios/page" : ids.get(file);
    imports[key] = "data:text/javascript;base64," + Buffer.from(sources.get(file), "utf8").toString("base64");
  }
  // The entry is imported by the page under "okeios/page"; every other key is as rewritten.
  const template = readFileSync(join(JS, "scripts", "page.html"), "utf8");
  const map = JSON.stringify({ imports }, null, 0).replace(/</g, "\\u003c");
  return template.replace("__IMPORTMAP__", () => map);
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const html = buildPage();
  if (process.argv.includes("--stdout")) process.stdout.write(html);
  else if (process.argv.includes("--check")) {
    const shipped = existsSync(SHIPPED) ? readFileSync(SHIPPED, "utf8") : null;
    if (shipped !== html) {
      process.stderr.write(`${relative(process.cwd(), SHIPPED)} is not the page a fresh build gives: run npm run build --prefix js\n`);
      process.exit(1);
    }
    process.stdout.write(`verify page up to date (${html.length} bytes)\n`);
  } else {
    writeFileSync(join(JS, "dist", "verify.html"), html);
    writeFileSync(SHIPPED, html);
    process.stdout.write(`wrote ${relative(process.cwd(), SHIPPED)} (${html.length} bytes)\n`);
  }
}
