// Opening a share (the encryption specification): a record sealed for one recipient, its
// data key wrapped with HPKE (RFC 9180, base mode, DHKEM(X25519, HKDF-SHA256), HKDF-SHA256,
// AES-256-GCM), its commitment seed sealed beside it, and the bundle of its event. The record
// is opened, committed to again with the seed, and its bundle verified with every field.

import { x25519 } from "@noble/curves/ed25519.js";
import { hmac } from "@noble/hashes/hmac.js";
import { extract, expand } from "@noble/hashes/hkdf.js";
import { sha256 as nobleSha256 } from "@noble/hashes/sha2.js";
import { Bytes, compare, concat, equal, fromHex, toHex, u64be, utf8 } from "./bytes.js";
import { Bundle, DisclosedField, decodeJson } from "./bundle.js";
import { JSONValue, canonicalBytes, canonicalText, parseJson, typedLeaves } from "./canonical.js";
import { fieldDigest, pathBytes } from "./commitment.js";
import { OkeiosError } from "./errors.js";
import { ChainView, Policy, Report, verifyBundle } from "./verify.js";

const SHARE_MEDIA_TYPE = "application/vnd.okeios.share+json";
const MEMBERS = ["mediaType", "version", "recipient", "suite", "wrappedKey", "payload", "seed", "bundle"];
const failed = (m: string) => new OkeiosError("DecryptionError", m);

function i2osp(n: number, len: number): Bytes {
  const out = new Uint8Array(len);
  for (let i = len - 1, v = n; i >= 0; i--, v >>= 8) out[i] = v & 255;
  return out;
}

const KEM_ID = i2osp(0x0020, 2);
const KEM_SUITE = concat(utf8("KEM"), KEM_ID);
const HPKE_SUITE = concat(utf8("HPKE"), KEM_ID, i2osp(0x0001, 2), i2osp(0x0002, 2));
const labeledExtract = (suite: Bytes, salt: Bytes, label: string, ikm: Bytes) =>
  extract(nobleSha256, concat(utf8("HPKE-v1"), suite, utf8(label), ikm), salt);
const labeledExpand = (suite: Bytes, prk: Bytes, label: string, info: Bytes, length: number) =>
  expand(nobleSha256, prk, concat(i2osp(length, 2), utf8("HPKE-v1"), suite, utf8(label), info), length);

async function aesGcmOpen(key: Bytes, nonce: Bytes, sealed: Bytes, aad: Bytes): Promise<Bytes> {
  const subtle = globalThis.crypto.subtle;
  const k = await subtle.importKey("raw", key as BufferSource, "AES-GCM", false, ["decrypt"]);
  try {
    return new Uint8Array(await subtle.decrypt({ name: "AES-GCM", iv: nonce as BufferSource, additionalData: aad as BufferSource, tagLength: 128 }, k, sealed as BufferSource));
  } catch {
    throw failed("authentication failed");
  }
}

/** HPKE base-mode open of `ct` with encapsulation `enc` (X25519 suite). */
async function hpkeOpen(skR: Bytes, enc: Bytes, info: Bytes, aad: Bytes, ct: Bytes): Promise<Bytes> {
  let dh: Bytes;
  try {
    dh = x25519.getSharedSecret(skR, enc);
  } catch {
    throw failed("the encapsulated key is not an X25519 point");
  }
  const pkR = x25519.getPublicKey(skR);
  const eaePrk = labeledExtract(KEM_SUITE, new Uint8Array(0), "eae_prk", dh);
  const shared = labeledExpand(KEM_SUITE, eaePrk, "shared_secret", concat(enc, pkR), 32);
  const empty = new Uint8Array(0);
  const context = concat(new Uint8Array([0]), labeledExtract(HPKE_SUITE, empty, "psk_id_hash", empty), labeledExtract(HPKE_SUITE, empty, "info_hash", info));
  const secret = labeledExtract(HPKE_SUITE, shared, "secret", empty);
  const key = labeledExpand(HPKE_SUITE, secret, "key", context, 32);
  const nonce = labeledExpand(HPKE_SUITE, secret, "base_nonce", context, 12);
  return aesGcmOpen(key, nonce, ct, aad);
}

async function openSealed(key: Bytes, sealed: Bytes, aad: Bytes): Promise<Bytes> {
  if (!equal(sealed.subarray(0, 4), utf8("OKC1"))) throw failed("not a sealed payload (bad magic)");
  if (sealed.length < 32) throw failed("the sealed payload is too short");
  return aesGcmOpen(key, sealed.subarray(4, 16), sealed.subarray(16), aad);
}

/** The recipient's private key, `"OKS1" || suite byte || key`. */
export function parseRecipientKey(raw: Bytes): { suite: number; key: Bytes } {
  if (raw.length < 5 || !equal(raw.subarray(0, 4), utf8("OKS1"))) throw new OkeiosError("EncodingError", "not a recipient private key");
  if (raw[4] !== 1 || raw.length !== 37) throw new OkeiosError("EncodingError", "an unsupported or malformed recipient key");
  return { suite: 1, key: raw.slice(5) };
}

function jsonText(v: JSONValue): string {
  if (v instanceof Map) return "{" + [...v.entries()].map(([k, x]) => JSON.stringify(k) + ":" + jsonText(x)).join(",") + "}";
  if (Array.isArray(v)) return "[" + v.map(jsonText).join(",") + "]";
  return canonicalText(v);
}

export interface OpenedShare {
  record: Bytes;
  report: Report;
}

/** Decode, open and verify a share. Throws a typed refusal (the share does not decode),
 * DecryptionError (it does not open for this key) or WrongSuiteError. */
export async function openShare(data: Bytes, recipientKey: Bytes, policy: Policy, chain: ChainView | null = null): Promise<OpenedShare> {
  let raw: JSONValue;
  try {
    raw = parseJson(data, 16, true);
  } catch (e) {
    throw new OkeiosError("EncodingError", `the share is not valid JSON: ${(e as Error).message}`);
  }
  if (!(raw instanceof Map)) throw new OkeiosError("EncodingError", "a share is a JSON object");
  const unknown = [...raw.keys()].filter((k) => !MEMBERS.includes(k));
  if (unknown.length) throw new OkeiosError("UnknownFieldError", `share: unknown member(s) ${JSON.stringify(unknown)}`);
  const missing = MEMBERS.filter((k) => !raw.has(k));
  if (missing.length) throw new OkeiosError("EncodingError", `share: missing member(s) ${JSON.stringify(missing)}`);
  if (raw.get("mediaType") !== SHARE_MEDIA_TYPE) throw new OkeiosError("BadMagicError", "not an okeios share");
  if (raw.get("version") !== 1n) throw new OkeiosError("UnsupportedVersionError", "share version other than 1");
  const hex = (name: string): Bytes => {
    const v = raw.get(name);
    const b = typeof v === "string" ? fromHex(v) : null;
    if (b === null) throw new OkeiosError("EncodingError", `share.${name}: expected 0x-hex text`);
    if (v !== toHex(b)) throw new OkeiosError("NonCanonicalEncodingError", `share.${name}: hex digits must be lower case`);
    return b;
  };
  const wrapped = hex("wrappedKey"), payload = hex("payload"), sealedSeed = hex("seed");
  if (typeof raw.get("suite") !== "string" || typeof raw.get("recipient") !== "string") throw new OkeiosError("EncodingError", "share: suite and recipient are text");
  const bundleValue = raw.get("bundle")!;
  const bundle: Bundle = decodeJson(utf8(jsonText(bundleValue)));
  const key = parseRecipientKey(recipientKey);
  const e = bundle.event;
  const versionBytes = u64be(e.version);
  // Unwrap the data key.
  if (wrapped.length < 7 || !equal(wrapped.subarray(0, 4), utf8("OKW1"))) throw failed("not a wrapped key (bad magic)");
  if (wrapped[4] !== 1 && wrapped[4] !== 2) throw failed("an unknown suite");
  if (wrapped[4] !== key.suite) throw new OkeiosError("WrongSuiteError", "the key was wrapped for another suite than the recipient key's");
  const encLength = (wrapped[5] << 8) | wrapped[6];
  if (encLength !== 32) throw failed("an encapsulated key of the wrong length");
  if (wrapped.length !== 7 + 32 + 48) throw failed("a wrapped key of the wrong length");
  const info = concat(utf8("okeios/grant/v1\0"), e.recordId, versionBytes);
  const dataKey = await hpkeOpen(key.key, wrapped.subarray(7, 39), info, new Uint8Array(0), wrapped.subarray(39));
  const record = await openSealed(dataKey, payload, concat(e.recordId, versionBytes));
  const seed = await openSealed(dataKey, sealedSeed, concat(utf8("okeios/share/seed/v1\0"), e.recordId, versionBytes));
  if (seed.length !== 32) throw failed("the seed is not 32 bytes");
  let value: JSONValue;
  try {
    value = parseJson(record);
  } catch (err) {
    throw failed(`the record does not parse: ${(err as Error).message}`);
  }
  const fields: DisclosedField[] = [...typedLeaves(value)].map(([path, v]) => ({
    path,
    salt: hmac(nobleSha256, seed, concat(utf8("okeios/salt/v2\0"), pathBytes(path))).slice(0, 16),
    value: canonicalBytes(v),
  }));
  const digests = fields.map((f) => fieldDigest(f.salt, f.path, f.value)).sort(compare);
  if (digests.length !== bundle.digests.length || digests.some((d, i) => !equal(d, bundle.digests[i])))
    throw failed("the record and seed do not give the bundle's digests");
  fields.sort((a, b) => compare(pathBytes(a.path), pathBytes(b.path)));
  const full: Bundle = { ...bundle, fields };
  const report = await verifyBundle(full, policy, { record, ciphertext: payload, chain });
  return { record: canonicalBytes(value), report };
}
