// RFC 9162 inclusion and consistency proofs, with the exact proof length checked first
// (docs/log.md).

import { Bytes, equal, toHex } from "./bytes.js";
import { sha256 } from "./crypto.js";
import { OkeiosError } from "./errors.js";

const NODE = new Uint8Array([1]);
const LEAF = new Uint8Array([0]);

export const leafHash = (entry: Bytes): Bytes => sha256(LEAF, entry);
const node = (l: Bytes, r: Bytes) => sha256(NODE, l, r);

const malformed = (m: string) => new OkeiosError("ProofError", m);
const mismatch = (m: string) => new OkeiosError("ProofMismatchError", m);

const bitLength = (n: bigint) => (n === 0n ? 0 : n.toString(2).length);
const popcount = (n: bigint) => [...n.toString(2)].filter((c) => c === "1").length;

export function inclusionProofLength(index: bigint, size: bigint): number {
  if (!(index >= 0n && index < size)) throw malformed(`leaf index ${index} is outside 0..${size - 1n}`);
  const inner = bitLength(index ^ (size - 1n));
  return inner + popcount(index >> BigInt(inner));
}

/** Throws ProofError (malformed) or ProofMismatchError (well formed, another root). */
export function verifyInclusion(index: bigint, size: bigint, leaf: Bytes, proof: Bytes[], root: Bytes): void {
  const expected = inclusionProofLength(index, size);
  if (proof.length !== expected)
    throw malformed(`inclusion proof for index ${index} in a tree of ${size} has ${expected} hashes, got ${proof.length}`);
  let fn = index;
  let sn = size - 1n;
  let r = leaf;
  for (const p of proof) {
    if (fn & 1n || fn === sn) {
      r = node(p, r);
      while (!(fn & 1n) && fn !== 0n) {
        fn >>= 1n;
        sn >>= 1n;
      }
    } else {
      r = node(r, p);
    }
    fn >>= 1n;
    sn >>= 1n;
  }
  if (!equal(r, root))
    throw mismatch(`inclusion proof for index ${index} leads to root ${toHex(r).slice(2)}, expected ${toHex(root).slice(2)}`);
}

const split = (n: bigint): bigint => {
  let k = 1n;
  while (k << 1n < n) k <<= 1n;
  return k;
};

export function consistencyProofLength(oldSize: bigint, newSize: bigint): number {
  if (!(oldSize > 0n && oldSize <= newSize))
    throw malformed(`need 0 < old size <= new size, got ${oldSize} and ${newSize}`);
  if (oldSize === newSize) return 0;
  let count = 0;
  let width = newSize;
  let m = oldSize;
  let complete = true;
  while (m !== width) {
    const k = split(width);
    count++;
    if (m <= k) width = k;
    else {
      width -= k;
      m -= k;
      complete = false;
    }
  }
  return count + (complete ? 0 : 1);
}

export function verifyConsistency(oldSize: bigint, newSize: bigint, oldRoot: Bytes, newRoot: Bytes, proof: Bytes[]): void {
  if (oldSize === 0n) throw malformed("a consistency proof from the empty tree proves nothing");
  if (oldSize > newSize) throw malformed(`old size ${oldSize} is larger than new size ${newSize}`);
  const expected = consistencyProofLength(oldSize, newSize);
  if (proof.length !== expected)
    throw malformed(`consistency proof from ${oldSize} to ${newSize} has ${expected} hashes, got ${proof.length}`);
  if (oldSize === newSize) {
    if (!equal(oldRoot, newRoot)) throw mismatch("equal tree sizes with different roots");
    return;
  }
  const path = [...proof];
  if ((oldSize & (oldSize - 1n)) === 0n) path.unshift(oldRoot);
  let fn = oldSize - 1n;
  let sn = newSize - 1n;
  while (fn & 1n) {
    fn >>= 1n;
    sn >>= 1n;
  }
  let fr = path[0];
  let sr = path[0];
  for (const c of path.slice(1)) {
    if (sn === 0n) throw malformed("consistency proof is longer than the tree allows");
    if (fn & 1n || fn === sn) {
      fr = node(c, fr);
      sr = node(c, sr);
      while (!(fn & 1n) && fn !== 0n) {
        fn >>= 1n;
        sn >>= 1n;
      }
    } else {
      sr = node(sr, c);
    }
    fn >>= 1n;
    sn >>= 1n;
  }
  if (sn !== 0n) throw malformed("consistency proof is shorter than the tree needs");
  if (!equal(fr, oldRoot)) throw mismatch("the consistency proof does not lead to the old root");
  if (!equal(sr, newRoot)) throw mismatch("the consistency proof does not lead to the new root");
}
