// Salted per-field commitments with typed paths (docs/commitments.md).

import { Bytes, concat, u32be, u64be, utf8, compare, toHex } from "./bytes.js";
import { sha256 } from "./crypto.js";
import { Token, formatPointer } from "./canonical.js";
import { OkeiosError } from "./errors.js";

export const MAX_FIELDS = 1 << 20;
export const MAX_PATH_TOKENS = 4096;

export function pathBytes(path: Token[]): Bytes {
  const parts: Bytes[] = [u32be(path.length)];
  for (const t of path) {
    if (typeof t === "string") {
      const name = utf8(t);
      parts.push(new Uint8Array([1]), u32be(name.length), name);
    } else {
      parts.push(new Uint8Array([2]), u64be(t));
    }
  }
  return concat(...parts);
}

/** A key that tells typed paths apart exactly (an index 0 from a member "0"). */
export const pathKey = (path: Token[]): string => toHex(pathBytes(path));

export function fieldDigest(salt: Bytes, path: Token[], value: Bytes): Bytes {
  const p = pathBytes(path);
  return sha256(utf8("okeios/field/v2\0"), salt, u32be(p.length), p, u32be(value.length), value);
}

export function commitmentFromDigests(digests: Bytes[]): Bytes {
  if (digests.length > MAX_FIELDS) throw new OkeiosError("CommitmentError", `a record has at most ${MAX_FIELDS} fields`);
  for (let i = 0; i < digests.length; i++) {
    if (digests[i].length !== 32) throw new OkeiosError("CommitmentError", `field digest ${i} is not 32 bytes`);
    if (i > 0 && compare(digests[i], digests[i - 1]) <= 0)
      throw new OkeiosError("CommitmentError", "field digests must be sorted ascending without duplicates");
  }
  return sha256(utf8("okeios/commitment/v2\0"), u32be(digests.length), ...digests);
}

/** Why the paths cannot all be leaves of one JSON document, or null if they can. */
export function pathConflict(paths: Token[][]): string | null {
  const leaves = new Set<string>();
  const inner = new Map<string, string>();
  const q = (p: Token[]) => `'${formatPointer(p)}'`;
  for (const path of paths) {
    const key = pathKey(path);
    if (leaves.has(key)) return `the path ${q(path)} appears twice`;
    if (inner.has(key)) return `${q(path)} is both a leaf and an inner node`;
    leaves.add(key);
    for (let k = 0; k < path.length; k++) {
      const prefix = path.slice(0, k);
      const pk = pathKey(prefix);
      if (leaves.has(pk)) return `${q(prefix)} is both a leaf and an inner node`;
      const kind = typeof path[k];
      const seen = inner.get(pk);
      if (seen === undefined) inner.set(pk, kind);
      else if (seen !== kind) return `the node at ${q(prefix)} is both an array and an object`;
    }
  }
  return null;
}
