// Shared by the agreement test: run one case's argv through the TypeScript command line
// in this process and return its exit code and parsed JSON output.
import { main } from "../dist/cli.js";

export async function runCase(argv, cwd) {
  const here = process.cwd();
  process.chdir(cwd);
  let text = "";
  try {
    const code = await main(argv, (s) => { text += s + "\n"; }, () => {});
    return { exit: code, output: text.trim() ? JSON.parse(text) : null };
  } finally {
    process.chdir(here);
  }
}

/** The verdict fields both verifiers must agree on exactly: everything but the free-text
 * `detail` sentences (compared only for presence) and a refused file's error message (its
 * class is compared). */
export function normalise(value, key = "") {
  if (key === "detail") return value ? "…" : value;
  if (key === "error" && typeof value === "string") return value.split(":")[0];
  if (key === "message") return undefined;
  if (Array.isArray(value)) return value.map((x) => normalise(x));
  if (value !== null && typeof value === "object")
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, normalise(v, k)]));
  return value;
}
