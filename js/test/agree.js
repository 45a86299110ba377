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

/** The verdict fields both verifiers must agree on exactly. `detail` sentences are free text
 * (compared only for presence), and a refused file's error message too (its class is compared). */
export function normalise(output) {
  if (output === null || typeof output !== "object") return output;
  const one = (r) => {
    if (r === null || typeof r !== "object") return r;
    const out = { ...r };
    if (typeof out.error === "string") out.error = out.error.split(":")[0];
    delete out.message;
    if (out.verdicts) {
      out.verdicts = Object.fromEntries(
        Object.entries(out.verdicts).map(([k, v]) => [k, { ...v, detail: v.detail ? "…" : undefined }]),
      );
    }
    return out;
  };
  if (output.bundles) return { ...output, bundles: Object.fromEntries(Object.entries(output.bundles).map(([k, v]) => [k, one(v)])) };
  return one(output);
}
