// Reading the AnchorRegistry through any Ethereum JSON-RPC endpoint (docs/contract.md):
// eth_chainId, eth_blockNumber, eth_getCode and eth_call of anchorCount and, by the registry's
// interface version, rootAt and anchorAt (version 2) or latest and the Anchored events read
// with eth_getLogs (version 3, which has VERSION()).
// Each fact is read once per view; the first failure to reach the chain is kept, so a dead
// node costs one timeout per run.

import { Bytes, concat, fromHex, toHex, utf8, word, toBigInt } from "./bytes.js";
import { addressBytes, keccak } from "./crypto.js";
import { OkeiosError } from "./errors.js";
import { AnchorEntry, ChainView } from "./verify.js";

const selector = (sig: string) => keccak(utf8(sig)).subarray(0, 4);
const ROOT_AT = selector("rootAt(address,bytes32,uint64)");
const ANCHOR_COUNT = selector("anchorCount(address,bytes32)");
const ANCHOR_AT = selector("anchorAt(address,bytes32,uint256)");
const SIZE_NOT_ANCHORED = toHex(selector("AnchorRegistrySizeNotAnchored(address,bytes32,uint64)"));
const VERSION = selector("VERSION()");
const LATEST = selector("latest(address,bytes32)");
const ANCHORED_TOPIC = toHex(keccak(utf8("Anchored(address,bytes32,uint64,bytes32,uint64,uint64)")));

export type Transport = (method: string, params: unknown[]) => Promise<unknown>;

class Reverted extends Error {
  constructor(readonly data: string) {
    super(`reverted ${data.slice(0, 10)}`);
  }
}

/** A JSON-RPC transport over HTTP(S) with fetch; every failure is a ChainError. */
export function httpTransport(url: string, timeoutMs: number): Transport {
  let id = 0;
  return async (method, params) => {
    const ctl = new AbortController();
    const timer = setTimeout(() => ctl.abort(), timeoutMs);
    let body: { result?: unknown; error?: { message?: string; data?: unknown } };
    try {
      const res = await fetch(url, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ jsonrpc: "2.0", id: ++id, method, params }),
        signal: ctl.signal,
      });
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      body = (await res.json()) as typeof body;
    } catch (e) {
      throw new OkeiosError("ChainError", `${url}: ${method} failed: ${(e as Error).message}`);
    } finally {
      clearTimeout(timer);
    }
    if (body.error !== undefined) {
      const data = typeof body.error.data === "string" ? body.error.data : (body.error.data as { data?: unknown } | undefined)?.data;
      if (typeof data === "string" && /^0x(?:[0-9a-fA-F]{8})?/.test(data)) throw new Reverted(data);
      if (/revert/i.test(body.error.message ?? "")) throw new Reverted("0x");
      throw new OkeiosError("ChainError", `${url}: ${method}: ${body.error.message ?? "error"}`);
    }
    return body.result;
  };
}

const quantity = (v: unknown, what: string): bigint => {
  if (typeof v !== "string" || !/^0x[0-9a-fA-F]+$/.test(v)) throw new OkeiosError("ChainError", `${what}: not a quantity`);
  return BigInt(v);
};

export class RpcChain implements ChainView {
  private failure: OkeiosError | null = null;
  private cache = new Map<string, Promise<unknown>>();

  constructor(private rpc: Transport, private deadline: number | null = null) {}

  private read<T>(key: string, fn: () => Promise<T>): Promise<T> {
    let p = this.cache.get(key) as Promise<T> | undefined;
    if (p === undefined) {
      p = (async () => {
        if (this.failure !== null) throw this.failure;
        if (this.deadline !== null && Date.now() > this.deadline)
          throw (this.failure = new OkeiosError("ChainError", "the deadline for chain reads has passed"));
        try {
          return await fn();
        } catch (e) {
          if (e instanceof OkeiosError && e.name === "ChainError") this.failure = e;
          throw e;
        }
      })();
      this.cache.set(key, p);
    }
    return p;
  }

  chainId(): Promise<bigint> {
    return this.read("id", async () => quantity(await this.rpc("eth_chainId", []), "eth_chainId"));
  }

  head(): Promise<bigint> {
    return this.read("head", async () => quantity(await this.rpc("eth_blockNumber", []), "eth_blockNumber"));
  }

  private async call(registry: string, data: Bytes): Promise<Bytes | null> {
    try {
      const out = await this.rpc("eth_call", [{ to: registry, data: toHex(data) }, "latest"]);
      const b = typeof out === "string" ? fromHex(out) : null;
      if (b === null) throw new OkeiosError("ChainError", "eth_call: not hex");
      return b;
    } catch (e) {
      if (e instanceof Reverted) {
        if (e.data.slice(0, 10).toLowerCase() === SIZE_NOT_ANCHORED) return null;
        throw new OkeiosError("ChainError", `eth_call ${e.message}`);
      }
      throw e;
    }
  }

  private hasCode(registry: string): Promise<boolean> {
    return this.read(`code ${registry}`, async () => {
      const code = await this.rpc("eth_getCode", [registry, "latest"]);
      if (typeof code !== "string") throw new OkeiosError("ChainError", "eth_getCode: not hex");
      return code !== "0x" && code !== "0x0";
    });
  }

  /** The registry's interface version: 3 for a registry that keeps only the latest head in
   * storage and its history as `Anchored` events; 2 (no `VERSION()`) for one that keeps every
   * head in storage and answers `rootAt`. */
  private version(registry: string): Promise<number> {
    return this.read(`version ${registry}`, async () => {
      try {
        const out = await this.call(registry, VERSION);
        return out !== null && out.length === 32 && toBigInt(out) === 3n ? 3 : 2;
      } catch (e) {
        if (e instanceof OkeiosError && e.message.startsWith("eth_call reverted")) return 2;
        throw e;
      }
    });
  }

  /** Version 3: the anchor of exactly `treeSize` entries, the latest from storage, an older
   * one from its `Anchored` event (publisher, log id and size are indexed topics). */
  private async anchorAtV3(registry: string, publisher: string, logId: Bytes, treeSize: bigint): Promise<AnchorEntry | null> {
    const latest = await this.latest(registry, publisher, logId);
    if (latest === null || treeSize > latest.treeSize) return null;
    if (latest.treeSize === treeSize) return latest;
    const logs = await this.rpc("eth_getLogs", [{
      address: registry, fromBlock: "0x0", toBlock: "latest",
      topics: [ANCHORED_TOPIC, toHex(word(toBigInt(addressBytes(publisher)))), toHex(logId), toHex(word(treeSize))],
    }]);
    if (!Array.isArray(logs)) throw new OkeiosError("ChainError", "eth_getLogs: not a list");
    const live = (logs as { removed?: boolean; data?: unknown; blockNumber?: unknown; logIndex?: unknown }[])
      .filter((l) => !l.removed)
      .map((l) => ({ data: typeof l.data === "string" ? fromHex(l.data) : null, block: quantity(l.blockNumber, "blockNumber"), at: quantity(l.logIndex, "logIndex") }))
      .sort((a, b) => (a.block < b.block ? -1 : a.block > b.block ? 1 : a.at < b.at ? -1 : a.at > b.at ? 1 : 0));
    if (!live.length) return null;
    const data = live[0].data;
    if (data === null || data.length < 96) throw new OkeiosError("ChainError", "Anchored: short data");
    return { treeSize, root: data.slice(0, 32), blockNumber: live[0].block, timestamp: toBigInt(data.subarray(64, 96)) };
  }

  anchorAt(registry: string, publisher: string, logId: Bytes, treeSize: bigint): Promise<AnchorEntry | null> {
    return this.read(`at ${registry} ${publisher} ${toHex(logId)} ${treeSize}`, async () => {
      if (!(await this.hasCode(registry)))
        throw new OkeiosError("RegistryMissingError", `no contract at registry ${registry}`);
      if ((await this.version(registry)) === 3) return this.anchorAtV3(registry, publisher, logId, treeSize);
      const out = await this.call(registry, concat(ROOT_AT, word(toBigInt(addressBytes(publisher))), logId, word(treeSize)));
      if (out === null) return null;
      if (out.length < 96) throw new OkeiosError("ChainError", "rootAt: short answer");
      return { treeSize, root: out.slice(0, 32), blockNumber: toBigInt(out.subarray(32, 64)), timestamp: toBigInt(out.subarray(64, 96)) };
    });
  }

  latest(registry: string, publisher: string, logId: Bytes): Promise<AnchorEntry | null> {
    return this.read(`latest ${registry} ${publisher} ${toHex(logId)}`, async () => {
      const who = word(toBigInt(addressBytes(publisher)));
      const count = await this.call(registry, concat(ANCHOR_COUNT, who, logId));
      if (count === null || count.length < 32) throw new OkeiosError("ChainError", "anchorCount: short answer");
      const n = toBigInt(count.subarray(0, 32));
      if (n === 0n) return null;
      const v3 = (await this.version(registry)) === 3;
      const out = v3
        ? concat(new Uint8Array(0), (await this.call(registry, concat(LATEST, who, logId))) ?? new Uint8Array(0))
        : await this.call(registry, concat(ANCHOR_AT, who, logId, word(n - 1n)));
      if (v3 && out !== null && out.length >= 128)
        return { treeSize: toBigInt(out.subarray(0, 32)), root: out.slice(32, 64), blockNumber: toBigInt(out.subarray(64, 96)), timestamp: toBigInt(out.subarray(96, 128)) };
      if (out === null || out.length < 128) throw new OkeiosError("ChainError", "anchorAt: short answer");
      return {
        treeSize: toBigInt(out.subarray(0, 32)),
        root: out.slice(32, 64),
        blockNumber: toBigInt(out.subarray(64, 96)),
        timestamp: toBigInt(out.subarray(96, 128)),
      };
    });
  }
}
