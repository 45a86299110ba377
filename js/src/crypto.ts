// Hashes, addresses, EIP-712 digests and secp256k1 signer recovery (docs/events.md).

import { sha256 as nobleSha256 } from "@noble/hashes/sha2.js";
import { keccak_256 } from "@noble/hashes/sha3.js";
import { secp256k1 } from "@noble/curves/secp256k1.js";
import { Bytes, concat, toHex, utf8, word, toBigInt, fromHex } from "./bytes.js";
import { OkeiosError } from "./errors.js";

export const sha256 = (...parts: Bytes[]): Bytes => nobleSha256(concat(...parts));
export const keccak = (...parts: Bytes[]): Bytes => keccak_256(concat(...parts));

/** The EIP-55 checksummed text of a 20-byte address. */
export function checksumAddress(raw: Bytes): string {
  const hex = toHex(raw).slice(2);
  const h = keccak(utf8(hex));
  let out = "0x";
  for (let i = 0; i < 40; i++) {
    const nibble = (h[i >> 1] >> (i % 2 === 0 ? 4 : 0)) & 15;
    out += nibble >= 8 ? hex[i].toUpperCase() : hex[i];
  }
  return out;
}

/** The checksummed form of an address text: all lower case, all upper case, or a valid
 * EIP-55 checksum are accepted (as the reference reader does); null otherwise. */
export function parseAddress(text: string): string | null {
  if (!/^0x[0-9a-fA-F]{40}$/.test(text)) return null;
  const sum = checksumAddress(fromHex("0x" + text.slice(2).toLowerCase())!);
  const body = text.slice(2);
  if (text === sum || body === body.toLowerCase() || body === body.toUpperCase()) return sum;
  return null;
}

export const addressBytes = (address: string): Bytes => fromHex("0x" + address.slice(2).toLowerCase())!;

const N = secp256k1.Point.CURVE().n;
const HALF_N = N / 2n;

/** The checksummed address that made a 65-byte `r || s || v` signature over a digest. Throws
 * SignatureError for a malformed, high-s or unrecoverable signature. */
export function recoverAddress(digest: Bytes, signature: Bytes): string {
  if (signature.length !== 65)
    throw new OkeiosError("SignatureError", `a signature is 65 bytes, got ${signature.length}`);
  const r = toBigInt(signature.subarray(0, 32));
  const s = toBigInt(signature.subarray(32, 64));
  const v = signature[64];
  if (v !== 27 && v !== 28) throw new OkeiosError("SignatureError", `signature v must be 27 or 28, got ${v}`);
  if (!(r > 0n && r < N) || !(s > 0n && s <= HALF_N))
    throw new OkeiosError("SignatureError", "signature r or s is out of range (high-s signatures are refused)");
  let pub: Bytes;
  try {
    pub = new secp256k1.Signature(r, s, v - 27).recoverPublicKey(digest).toBytes(false);
  } catch (e) {
    throw new OkeiosError("SignatureError", `no public key recovers from this signature: ${(e as Error).message}`);
  }
  return checksumAddress(keccak(pub.subarray(1)).subarray(12));
}

// --- EIP-712 ----------------------------------------------------------------------------------

const EVENT_TYPE =
  "ProvenanceEvent(string kind,bytes32 logId,bytes32 recordId,uint64 version,bytes32 previous," +
  "bytes32 commitment,bytes32 ciphertextDigest,address author,uint64 time,bytes32[] sources," +
  "address subject,string purpose,string role,uint64 notBefore,uint64 notAfter)";
const CHECKPOINT_TYPE = "Checkpoint(bytes32 logId,uint64 treeSize,bytes32 root)";

export const DOMAIN_SEPARATOR = keccak(
  keccak(utf8("EIP712Domain(string name,string version)")),
  keccak(utf8("okeios")),
  keccak(utf8("2")),
);
const EVENT_TYPEHASH = keccak(utf8(EVENT_TYPE));
const CHECKPOINT_TYPEHASH = keccak(utf8(CHECKPOINT_TYPE));

export interface Event {
  kind: string;
  logId: Bytes;
  recordId: Bytes;
  version: bigint;
  previous: Bytes;
  commitment: Bytes;
  ciphertextDigest: Bytes;
  author: string;
  time: bigint;
  sources: Bytes[];
  subject: string;
  purpose: string;
  role: string;
  notBefore: bigint;
  notAfter: bigint;
}

export interface Checkpoint {
  logId: Bytes;
  treeSize: bigint;
  root: Bytes;
}

const addrWord = (a: string) => concat(new Uint8Array(12), addressBytes(a));
const typedDigest = (structHash: Bytes) => keccak(new Uint8Array([0x19, 0x01]), DOMAIN_SEPARATOR, structHash);

export function eventId(e: Event): Bytes {
  return typedDigest(
    keccak(
      EVENT_TYPEHASH,
      keccak(utf8(e.kind)),
      e.logId,
      e.recordId,
      word(e.version),
      e.previous,
      e.commitment,
      e.ciphertextDigest,
      addrWord(e.author),
      word(e.time),
      keccak(...e.sources),
      addrWord(e.subject),
      keccak(utf8(e.purpose)),
      keccak(utf8(e.role)),
      word(e.notBefore),
      word(e.notAfter),
    ),
  );
}

export function checkpointId(c: Checkpoint): Bytes {
  return typedDigest(keccak(CHECKPOINT_TYPEHASH, c.logId, word(c.treeSize), c.root));
}

/** The one log id of a publisher key: SHA-256("okeios/log/v2" 0x00 || address). */
export const deriveLogId = (address: string): Bytes =>
  sha256(utf8("okeios/log/v2\0"), addressBytes(address));

/** The record id of a key's identity events: SHA-256("okeios/key/v2" 0x00 || logId || key). */
export const keyRecordId = (logId: Bytes, key: string): Bytes =>
  sha256(utf8("okeios/key/v2\0"), logId, addressBytes(key));
