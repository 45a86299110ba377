// okeios-verify: the command line of the second verifier. Same flags, meanings, JSON verdict
// shape and exit codes as `okeios verify`: 0 every required verdict passed, 1 a verdict failed,
// 2 could not decide (bad input, usage, an unreachable chain, a required property not checked).

import { readFileSync } from "node:fs";
import { RpcChain, httpTransport } from "./chain.js";
import { parseAddress } from "./crypto.js";
import { OkeiosError, errorName } from "./errors.js";
import { Authority } from "./identity.js";
import { loadAuthority } from "./keyhistory.js";
import { CHAIN, OFFLINE, PROPERTIES, Policy, Report, outcome, headline, reportToDict, verifyBundle } from "./verify.js";
import { toHex } from "./bytes.js";
import { LineageReport, lineageOutcome, verifyLineage } from "./lineage.js";

const EXIT_OK = 0, EXIT_FAILED = 1, EXIT_UNDECIDED = 2;
const MAX_INPUT = 64 * 1024 * 1024;

class UsageError extends Error {}

const HELP = `usage: okeios-verify BUNDLE... [--record FILE]
    [--author ADDR ... | --any-author] [--publisher ADDR ... | --any-publisher]
    [--org ADDR ... [--role ROLE ...] --keys FILE ...]
    [--chain URL --chain-id N --registry ADDR [--confirmations N] [--chain-timeout S]]
    [--require PROPERTY ...] [--show-fields] [--lineage [--tolerance S]] [--json]

Verify okeios proof bundles (binary or JSON), offline or against a chain's AnchorRegistry.
Exit codes: 0 every required verdict passed; 1 a verdict failed; 2 could not decide: bad
input, usage, an unreachable chain, or a required property that was not checked.`;

interface Args {
  bundles: string[];
  record: string | null;
  author: string[];
  publisher: string[];
  anyAuthor: boolean;
  anyPublisher: boolean;
  org: string[];
  role: string[];
  keys: string[];
  chain: string | null;
  chainId: string | null;
  registry: string | null;
  confirmations: string;
  chainTimeout: string;
  require: string[];
  showFields: boolean;
  json: boolean;
  lineage: boolean;
  tolerance: string;
}

function parseArgs(argv: string[]): Args {
  const a: Args = {
    bundles: [], record: null, author: [], publisher: [], anyAuthor: false, anyPublisher: false,
    org: [], role: [], keys: [], chain: null, chainId: null, registry: null, confirmations: "1",
    chainTimeout: "30", require: [], showFields: false, json: false, lineage: false, tolerance: "86400",
  };
  const lists: Record<string, keyof Args> = {
    "--author": "author", "--publisher": "publisher", "--org": "org", "--role": "role", "--keys": "keys", "--require": "require",
  };
  const single: Record<string, keyof Args> = {
    "--record": "record", "--chain": "chain", "--chain-id": "chainId", "--registry": "registry",
    "--confirmations": "confirmations", "--chain-timeout": "chainTimeout", "--tolerance": "tolerance",
  };
  for (let i = 0; i < argv.length; i++) {
    let arg = argv[i];
    let value: string | undefined;
    const eq = arg.indexOf("=");
    if (arg.startsWith("--") && eq > 0) {
      value = arg.slice(eq + 1);
      arg = arg.slice(0, eq);
    }
    const take = () => {
      if (value !== undefined) return value;
      if (i + 1 >= argv.length) throw new UsageError(`${arg} needs a value`);
      return argv[++i];
    };
    if (arg in lists) (a[lists[arg]] as string[]).push(take());
    else if (arg in single) (a as unknown as Record<string, string>)[single[arg]] = take();
    else if (arg === "--any-author") a.anyAuthor = true;
    else if (arg === "--any-publisher") a.anyPublisher = true;
    else if (arg === "--show-fields") a.showFields = true;
    else if (arg === "--json") a.json = true;
    else if (arg === "--lineage") a.lineage = true;
    else if (arg === "-h" || arg === "--help") throw new UsageError(HELP);
    else if (arg.startsWith("--")) throw new UsageError(`unknown option ${arg}`);
    else a.bundles.push(arg);
  }
  if (!a.bundles.length) throw new UsageError("give at least one BUNDLE");
  return a;
}

function address(text: string, what: string): string {
  const a = parseAddress(text);
  if (a === null) throw new UsageError(`${what}: ${JSON.stringify(text)} is not a 0x-prefixed 20-byte hex address with a valid EIP-55 checksum`);
  return a;
}

function integer(text: string, what: string): bigint {
  if (!/^-?[0-9]+$/.test(text)) throw new UsageError(`${what} must be an integer, got ${JSON.stringify(text)}`);
  return BigInt(text);
}

function policyOf(a: Args): Policy {
  const orgs = new Map<string, Set<string> | null>();
  for (const o of a.org) orgs.set(address(o, "--org"), a.role.length ? new Set(a.role) : null);
  if (a.role.length && !a.org.length) throw new UsageError("--role goes with --org");
  for (const [who, list, any] of [["author", a.author, a.anyAuthor], ["publisher", a.publisher, a.anyPublisher]] as const)
    if (!list.length && !any && !orgs.size)
      throw new UsageError(`say whom to trust: --${who} ADDRESS (repeatable), --any-${who}, or --org ADDRESS`);
  let chainId: bigint | null = null;
  let registry: string | null = null;
  if (a.chain === null) {
    if (a.chainId !== null || a.registry !== null) throw new UsageError("--chain-id and --registry go with --chain");
  } else {
    if (a.chain === "embedded") throw new UsageError("the embedded chain is local to the okeios home that anchored: give a node URL");
    if (a.chainId === null || a.registry === null)
      throw new UsageError(`no chain id and registry pinned for ${a.chain}: pass --chain-id N and --registry ADDRESS`);
    chainId = integer(a.chainId, "--chain-id");
    if (chainId <= 0n) throw new UsageError(`--chain-id must be positive, got ${chainId}`);
    registry = address(a.registry, "--registry");
  }
  const confirmations = integer(a.confirmations, "--confirmations");
  if (confirmations < 1n) throw new UsageError(`confirmations must be at least 1, got ${confirmations}`);
  const required = new Set<string>(OFFLINE);
  if (chainId !== null) CHAIN.forEach((p) => required.add(p));
  for (const item of a.require)
    for (const x of item.split(",").map((s) => s.trim()).filter(Boolean)) {
      if (!(PROPERTIES as readonly string[]).includes(x)) throw new UsageError(`unknown property '${x}' (known: ${PROPERTIES.join(", ")})`);
      required.add(x);
    }
  return {
    authors: a.anyAuthor ? "any" : new Set(a.author.map((x) => address(x, "--author"))),
    publishers: a.anyPublisher ? "any" : new Set(a.publisher.map((x) => address(x, "--publisher"))),
    organisations: orgs,
    chainId,
    registry,
    confirmations,
    required,
  };
}

function readInput(path: string, what: string): Uint8Array {
  let data: Buffer;
  try {
    data = readFileSync(path === "-" ? 0 : path);
  } catch (e) {
    throw new OkeiosError("InputError", `cannot read the ${what} ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  if (data.length > MAX_INPUT) throw new OkeiosError("InputError", `${path}: the ${what} is larger than the ${MAX_INPUT}-byte limit`);
  return new Uint8Array(data.buffer, data.byteOffset, data.length);
}

/** Control characters escaped, so a crafted field cannot repaint the terminal. */
const safe = (s: string) => s.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g, (c) => "\\u" + c.charCodeAt(0).toString(16).padStart(4, "0"));

function reportText(name: string, r: Report, showFields: boolean): string {
  const lines = [`${safe(name)}: ${headline(r)}`];
  for (const v of r.verdicts) lines.push(`  ${v.property.padEnd(15)} ${v.status}${v.reason ? ` [${v.reason}]` : ""} ${safe(v.detail)}`);
  if (showFields) {
    if (r.verdicts.find((v) => v.property === "integrity")?.status === "pass") for (const [p, v] of r.disclosed) lines.push(`  field ${safe(p)} = ${safe(v)}`);
    else lines.push("  (fields not shown: integrity did not pass)");
  }
  return lines.join("\n");
}

const combine = (outcomes: string[]) => (outcomes.includes("fail") ? "fail" : outcomes.some((x) => x !== "pass") ? "undecided" : "pass");
const exitCode = (o: string) => (o === "pass" ? EXIT_OK : o === "fail" ? EXIT_FAILED : EXIT_UNDECIDED);

export async function main(argv: string[], out: (s: string) => void = (s) => process.stdout.write(s + "\n"), err: (s: string) => void = (s) => process.stderr.write(s + "\n")): Promise<number> {
  let args: Args;
  let policy: Policy;
  try {
    args = parseArgs(argv);
    policy = policyOf(args);
    if (args.record !== null && args.bundles.length !== 1) throw new UsageError("--record goes with exactly one bundle");
    if (args.lineage && args.record !== null) throw new UsageError("--record does not go with --lineage");
    integer(args.tolerance, "--tolerance");
  } catch (e) {
    if (e instanceof UsageError) {
      if (e.message === HELP) {
        out(HELP);
        return EXIT_OK;
      }
      err(`okeios-verify: error: ${e.message}`);
      return EXIT_UNDECIDED;
    }
    throw e;
  }
  // --any-author/--any-publisher trust nobody in particular: said loudly, and in the JSON.
  const anyone = [...(args.anyAuthor ? ["author"] : []), ...(args.anyPublisher ? ["publisher"] : [])];
  const insecure = anyone.length
    ? `${anyone.map((w) => `--any-${w}`).join(" and ")}: no ${anyone.map((w) => `${w}s`).join(" or ")} were trusted; a pass proves only that some key signed, not that anyone you trust did`
    : null;
  if (insecure !== null) err(`okeios-verify: WARNING: ${insecure}`);
  const printJson = (payload: Record<string, unknown>) =>
    out(JSON.stringify(insecure === null ? payload : { ...payload, insecure: { anyone, warning: insecure } }, null, 2));
  const seconds = Number(args.chainTimeout);
  if (!(seconds > 0)) {
    err(`okeios-verify: error: --chain-timeout must be a positive number of seconds, got ${JSON.stringify(args.chainTimeout)}`);
    return EXIT_UNDECIDED;
  }
  const chain = args.chain === null ? null : new RpcChain(httpTransport(args.chain, seconds * 1000), Date.now() + seconds * 1000);
  let record: Uint8Array | null = null;
  let authorities: Map<string, Authority> | null = null;
  try {
    if (args.record !== null) record = readInput(args.record, "record");
    if (args.keys.length) {
      authorities = new Map();
      for (const k of args.keys) {
        const a = await loadAuthority(readInput(k, "key history"), policy, chain);
        authorities.set(toHex(a.logId), a);
      }
    }
  } catch (e) {
    if (!(e instanceof OkeiosError)) throw e;
    if (args.json) out(JSON.stringify({ result: "undecided", error: e.name, message: e.message }));
    else err(`okeios-verify: error: ${e.name}: ${safe(e.message)}`);
    return EXIT_UNDECIDED;
  }
  if (args.lineage) {
    let l: LineageReport;
    try {
      l = await verifyLineage(args.bundles.map((n) => readInput(n, "bundle")), policy, { chain, tolerance: BigInt(args.tolerance), authorities });
    } catch (e) {
      if (!(e instanceof OkeiosError)) throw e;
      if (args.json) out(JSON.stringify({ result: "undecided", error: e.name, message: e.message }));
      else err(`okeios-verify: error: ${e.name}: ${safe(e.message)}`);
      return EXIT_UNDECIDED;
    }
    const overall = lineageOutcome(l);
    if (args.json) {
      const v = l.verdict;
      const verdict: Record<string, unknown> = { property: "lineage", result: v.status };
      if (v.reason !== null) verdict.reason = v.reason;
      if (v.detail) verdict.detail = v.detail;
      printJson({ result: overall, record: toHex(l.recordId), lineage: verdict, events: l.reports.map((r) => reportToDict(r, "always")) });
    } else out(`lineage ${overall.toUpperCase()}: ${l.verdict.status}${l.verdict.reason ? ` [${l.verdict.reason}]` : ""}: ${safe(l.verdict.detail)}`);
    return exitCode(overall);
  }
  const results: [string, Report | null, string | null][] = [];
  for (const name of args.bundles) {
    try {
      const data = readInput(name, "bundle");
      results.push([name, await verifyBundle(data, policy, { record, chain, authorities }), null]);
    } catch (e) {
      if (!(e instanceof OkeiosError)) throw e;
      results.push([name, null, `${errorName(e)}: ${e.message}`]);
    }
  }
  const outcomes = results.map(([, r]) => (r === null ? "undecided" : outcome(r)));
  const overall = combine(outcomes);
  if (args.json) {
    const entries = results.map(([, r, e]) => (r !== null ? reportToDict(r, args.showFields) : { result: "undecided", error: e }));
    if (results.length === 1) printJson({ file: results[0][0], ...entries[0] });
    else
      printJson({
        result: overall,
        count: results.length,
        passed: outcomes.filter((x) => x === "pass").length,
        failed: outcomes.filter((x) => x === "fail").length,
        undecided: outcomes.filter((x) => x === "undecided").length,
        bundles: Object.fromEntries(results.map(([n], i) => [n, entries[i]])),
      });
  } else {
    results.forEach(([name, r, e]) => out(r === null ? `${safe(name)}: UNDECIDED (could not be read: ${safe(e ?? "")})` : reportText(name, r, args.showFields)));
    if (results.length > 1)
      out(`${outcomes.filter((x) => x === "pass").length} of ${results.length} bundles pass, ${outcomes.filter((x) => x === "fail").length} fail, ${outcomes.filter((x) => x === "undecided").length} undecided`);
  }
  return exitCode(overall);
}
