// Shared by the tests: paths, policies from vector JSON, a recorded chain view.
import { existsSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { fromHex } from "../dist/bytes.js";
import { parseAddress } from "../dist/crypto.js";
import { OkeiosError } from "../dist/errors.js";

export const JS = resolve(dirname(fileURLToPath(import.meta.url)), "..");
export const ROOT = resolve(JS, "..");
export const VECTORS = process.env.OKEIOS_VECTORS ?? join(ROOT, "vectors", "v2");
export const SHARED = join(ROOT, "..", "shared");
export const CI = process.env.CI === "true";

export function findPython() {
  const candidates = [process.env.OKEIOS_PYTHON, join(ROOT, ".venv", "bin", "python")];
  return candidates.find((p) => p && existsSync(p)) ?? null;
}

const addresses = (v) => (v === "*" ? "any" : new Set(v.map((a) => parseAddress(a))));

/** A verifier policy from a vector's `policy` object (docs/spec/vectors.md). */
export function policyFrom(p) {
  const orgs = new Map(Object.entries(p.organisations ?? {}).map(([k, v]) => [parseAddress(k), v === null ? null : new Set(v)]));
  const chainId = p.chainId === undefined ? null : BigInt(p.chainId);
  const required = new Set(p.required ?? ["integrity", "authenticity", "inclusion", "confidentiality", ...(chainId !== null ? ["anchoring", "consistency"] : [])]);
  return {
    authors: p.authors === undefined ? new Set() : addresses(p.authors),
    publishers: p.publishers === undefined ? new Set() : addresses(p.publishers),
    organisations: orgs,
    chainId,
    registry: p.registry === undefined ? null : parseAddress(p.registry),
    confirmations: BigInt(p.confirmations ?? 1),
    required,
  };
}

/** A chain view answering from recorded facts (vectors.md, "Chain facts"). */
export function recordedChain(facts) {
  const unavailable = () => { throw new OkeiosError("ChainError", `the chain does not answer: ${facts.unavailable}`); };
  const registries = new Map(Object.entries(facts.registries ?? {}).map(([k, v]) => [k.toLowerCase(), v]));
  const anchors = (registry, publisher, logId) => {
    const list = registries.get(registry.toLowerCase());
    if (list === undefined) throw new OkeiosError("RegistryMissingError", `no contract at registry ${registry}`);
    const id = Buffer.from(logId).toString("hex");
    return list.filter((a) => a.publisher.toLowerCase() === publisher.toLowerCase() && a.logId.slice(2).toLowerCase() === id);
  };
  const entry = (a) => ({ treeSize: BigInt(a.treeSize), root: fromHex(a.root), blockNumber: BigInt(a.block), timestamp: BigInt(a.timestamp) });
  return {
    async chainId() { if (facts.unavailable !== undefined) unavailable(); return BigInt(facts.chainId); },
    async head() { if (facts.unavailable !== undefined) unavailable(); return BigInt(facts.head); },
    async anchorAt(registry, publisher, logId, size) {
      if (facts.unavailable !== undefined) unavailable();
      const found = anchors(registry, publisher, logId).find((a) => BigInt(a.treeSize) === size);
      return found === undefined ? null : entry(found);
    },
    async latest(registry, publisher, logId) {
      if (facts.unavailable !== undefined) unavailable();
      const list = anchors(registry, publisher, logId);
      return list.length ? entry(list[list.length - 1]) : null;
    },
  };
}
