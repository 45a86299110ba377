// The proof bundle, binary (canonical MessagePack) and JSON forms (docs/bundle.md). Every
// problem is a typed refusal; the binary form is re-encoded and must give the same bytes.

import { decodeMsgpack } from "./msgpack.js";
import { Bytes, concat, equal, fromHex, toHex, utf8, decodeUtf8, compare } from "./bytes.js";
import { JSONValue, Token, parseJson } from "./canonical.js";
import { Event, checksumAddress, parseAddress, keyRecordId } from "./crypto.js";
import { pathBytes, MAX_PATH_TOKENS } from "./commitment.js";
import { OkeiosError } from "./errors.js";

export const MAGIC = new Uint8Array([0x89, 0x4f, 0x4b, 0x45, 0x49, 0x4f, 0x53]);
export const MAJOR_VERSION = 2;
export const JSON_MEDIA_TYPE = "application/vnd.okeios.bundle+json";
export const MAX_BUNDLE_SIZE = 64 * 1024 * 1024;
export const MAX_ELEMENTS = 4 * 100_000 + 1024;
const MAX_JSON_DEPTH = 16;
const U64 = 1n << 64n;
export const ZERO_HASH = new Uint8Array(32);
export const ZERO_ADDRESS = "0x0000000000000000000000000000000000000000";

export const RECORD_KINDS = ["create", "amend", "derive", "grant", "revoke", "access", "erase"];
export const KEY_KINDS = ["authorise", "deauthorise", "handover"];

export interface DisclosedField {
  path: Token[];
  salt: Bytes;
  value: Bytes;
}

export interface Bundle {
  event: Event;
  signature: Bytes;
  digests: Bytes[];
  fields: DisclosedField[];
  inclusion: { index: bigint; treeSize: bigint; path: Bytes[] };
  checkpoint: { logId: Bytes; treeSize: bigint; root: Bytes; publisher: string; signature: Bytes };
  anchor: null | {
    chainId: bigint;
    registry: Bytes;
    transaction: Bytes;
    block: bigint;
    extension: null | { treeSize: bigint; root: Bytes; proof: Bytes[] };
  };
}

const EVENT_KEYS = ["kind", "logId", "recordId", "version", "previous", "commitment", "ciphertextDigest",
  "author", "time", "sources", "subject", "purpose", "role", "notBefore", "notAfter"];
const TOP_KEYS = ["event", "signature", "disclosure", "inclusion", "checkpoint", "anchor"];
const JSON_TOP_KEYS = ["mediaType", "version", ...TOP_KEYS];
const FIELD_KEYS = ["path", "salt", "value"];
const DISCLOSURE_KEYS = ["digests", "fields"];
const INCLUSION_KEYS = ["index", "treeSize", "path"];
const CHECKPOINT_KEYS = ["logId", "treeSize", "root", "publisher", "signature"];
const ANCHOR_KEYS = ["chainId", "registry", "transaction", "block", "extension"];
const EXTENSION_KEYS = ["treeSize", "root", "proof"];

const encodingError = (m: string) => new OkeiosError("EncodingError", m);

function versionMessage(major: unknown): string {
  if (major === 1 || major === 1n)
    return "this is a version 1 bundle; version 1 is no longer verified (its commitments do not type " +
      "path tokens and its log ids are not bound to a publisher): ask the publisher for a version 2 bundle";
  return `bundle major version ${String(major)} is not supported (this verifier reads ${MAJOR_VERSION})`;
}

// --- a generic view of decoded values (msgpack objects or JSON maps) ----------------------------

type Raw = unknown;
const isMap = (v: Raw): v is Map<string, Raw> => v instanceof Map;
const isPlainObject = (v: Raw): v is Record<string, Raw> =>
  typeof v === "object" && v !== null && !Array.isArray(v) && !(v instanceof Uint8Array) && !(v instanceof Map);

function entries(v: Raw): [string, Raw][] | null {
  if (isMap(v)) return [...v.entries()];
  if (isPlainObject(v)) return Object.entries(v);
  return null;
}

function checkOrder(items: [string, Raw][], keys: string[], where: string): void {
  const names = items.map(([k]) => k);
  if (names.length === keys.length && names.every((k) => keys.includes(k)) && names.some((k, i) => k !== keys[i]))
    throw new OkeiosError("NonCanonicalEncodingError", `${where}: members must come in the order ${keys.join(", ")}`);
}

function members(v: Raw, keys: string[], where: string): Raw[] {
  const items = entries(v);
  if (items === null) throw encodingError(`${where}: expected a map`);
  const unknown = items.map(([k]) => k).filter((k) => !keys.includes(k));
  if (unknown.length) throw new OkeiosError("UnknownFieldError", `${where}: unknown field(s) ${JSON.stringify(unknown)}`);
  const have = new Set(items.map(([k]) => k));
  const missing = keys.filter((k) => !have.has(k));
  if (missing.length) throw encodingError(`${where}: missing field(s) ${JSON.stringify(missing)}`);
  checkOrder(items, keys, where);
  const m = new Map(items);
  return keys.map((k) => m.get(k));
}

function uint(v: Raw, where: string): bigint {
  if (typeof v === "bigint" && v >= 0n && v < U64) return v;
  throw encodingError(`${where}: expected an unsigned 64-bit integer`);
}

function text(v: Raw, where: string): string {
  if (typeof v !== "string") throw encodingError(`${where}: expected text`);
  return v;
}

function list(v: Raw, where: string): Raw[] {
  if (!Array.isArray(v)) throw encodingError(`${where}: expected an array`);
  return v;
}

type Reader = (v: Raw, where: string) => Bytes;
const readBin: Reader = (v, where) => {
  if (!(v instanceof Uint8Array)) throw encodingError(`${where}: expected bytes`);
  return v;
};
const readHex: Reader = (v, where) => {
  if (typeof v !== "string" || !v.startsWith("0x")) throw encodingError(`${where}: expected 0x-hex text`);
  const b = fromHex(v);
  if (b === null) throw encodingError(`${where}: bad hex`);
  if (v !== toHex(b)) throw new OkeiosError("NonCanonicalEncodingError", `${where}: hex digits must be lower case`);
  return b;
};

function fixed(read: Reader, v: Raw, where: string, size: number): Bytes {
  const b = read(v, where);
  if (b.length !== size) throw encodingError(`${where}: expected ${size} bytes, got ${b.length}`);
  return b;
}

function address(read: Reader, v: Raw, where: string): string {
  if (read === readHex) {
    const t = text(v, where);
    if (!t.startsWith("0x") || t.length !== 42) throw encodingError(`${where}: expected a 0x-prefixed 20-byte address`);
    const a = parseAddress(t);
    if (a === null) throw encodingError(`${where}: ${JSON.stringify(t)} has a wrong EIP-55 checksum`);
    if (a !== t) throw new OkeiosError("NonCanonicalEncodingError", `${where}: an address is written in EIP-55 form`);
    return a;
  }
  return checksumAddress(fixed(read, v, where, 20));
}

function path(v: Raw, where: string): Token[] {
  const tokens = list(v, where);
  if (tokens.length > MAX_PATH_TOKENS) throw encodingError(`${where}: a field path has at most ${MAX_PATH_TOKENS} tokens`);
  return tokens.map((t, i) => (typeof t === "string" ? t : uint(t, `${where}[${i}]`)));
}

/** The rules an event must satisfy (docs/events.md), EventError otherwise. */
export function checkEvent(e: Event): void {
  const bad = (m: string) => {
    throw new OkeiosError("EncodingError", `the bundle holds an invalid value: ${m}`);
  };
  if (e.sources.length > 256) bad("an event lists at most 256 sources");
  if (utf8(e.purpose).length > 1024) bad("purpose must be at most 1024 bytes of UTF-8");
  if (utf8(e.role).length > 256) bad("role must be at most 256 bytes of UTF-8");
  if (e.version < 1n) bad("version starts at 1");
  if (e.author === ZERO_ADDRESS) bad("the author cannot be the zero address");
  const zero = (b: Bytes) => equal(b, ZERO_HASH);
  if (KEY_KINDS.includes(e.kind)) {
    if (e.subject === ZERO_ADDRESS) bad(`a ${e.kind} event names the key it is about as its subject`);
    if (!equal(e.recordId, keyRecordId(e.logId, e.subject))) bad(`a ${e.kind} event's record id is key_record_id(logId, subject)`);
    // its version is its number among the log's identity events (identity rule 1.2)
    if (e.sources.length) bad(`a ${e.kind} event has no sources`);
    if (!zero(e.commitment) || !zero(e.ciphertextDigest)) bad(`a ${e.kind} event commits to no content`);
    if (e.kind === "authorise") {
      if (!e.role || e.notAfter < e.notBefore) bad("an authorise event has a role and notBefore <= notAfter");
    } else if (e.role || e.notAfter !== 0n) bad(`a ${e.kind} event has no role and notAfter 0`);
    return;
  }
  if (e.role || e.notBefore || e.notAfter) bad(`a ${e.kind} event has no role, notBefore or notAfter`);
  const first = e.kind === "create" || e.kind === "derive";
  if (first && (e.version !== 1n || !zero(e.previous))) bad(`a ${e.kind} event starts a record: version 1, no previous event`);
  if (!first && zero(e.previous)) bad(`a ${e.kind} event must link to the record's previous event`);
  if ((e.kind === "derive") !== e.sources.length > 0) bad("sources are required for derive and allowed only there");
  const needsSubject = ["grant", "revoke", "access"].includes(e.kind);
  if (needsSubject !== (e.subject !== ZERO_ADDRESS)) bad("a subject is required for grant, revoke, access and allowed only there");
}

/** An event from its EIP-712 message in JSON (the `event` of a key history's tail entry):
 * exactly the fields of the type, in any order, hashes as lower-case 0x-hex, addresses in any
 * valid form; the event rules apply. */
export function eventFromMessage(v: Raw): Event {
  const items = entries(v);
  if (items === null) throw encodingError("an event message is an object");
  const names = items.map(([k]) => k);
  const extra = names.filter((k) => !EVENT_KEYS.includes(k));
  const missing = EVENT_KEYS.filter((k) => !names.includes(k));
  if (extra.length || missing.length)
    throw encodingError(`malformed event message: unknown ${JSON.stringify(extra)}, missing ${JSON.stringify(missing)}`);
  const m = new Map(items);
  const h32 = (k: string) => fixed(readHex, m.get(k), k, 32);
  const addr = (k: string) => {
    const a = typeof m.get(k) === "string" ? parseAddress(m.get(k) as string) : null;
    if (a === null) throw encodingError(`${k}: not a valid address`);
    return a;
  };
  const kind = text(m.get("kind"), "kind");
  if (!RECORD_KINDS.includes(kind) && !KEY_KINDS.includes(kind)) throw encodingError(`kind: unknown kind ${JSON.stringify(kind)}`);
  const event: Event = {
    kind,
    logId: h32("logId"),
    recordId: h32("recordId"),
    version: uint(m.get("version"), "version"),
    previous: h32("previous"),
    commitment: h32("commitment"),
    ciphertextDigest: h32("ciphertextDigest"),
    author: addr("author"),
    time: uint(m.get("time"), "time"),
    sources: list(m.get("sources"), "sources").map((s, i) => fixed(readHex, s, `sources[${i}]`, 32)),
    subject: addr("subject"),
    purpose: text(m.get("purpose"), "purpose"),
    role: text(m.get("role"), "role"),
    notBefore: uint(m.get("notBefore"), "notBefore"),
    notAfter: uint(m.get("notAfter"), "notAfter"),
  };
  checkEvent(event);
  return event;
}

function decodeBody(raw: Raw, read: Reader): Bundle {
  const h32 = (v: Raw, where: string) => fixed(read, v, where, 32);
  const [ev, sig, disc, inc, cp, anchor] = members(raw, TOP_KEYS, "bundle");
  const e = members(ev, EVENT_KEYS, "event");
  const kind = text(e[0], "event.kind");
  if (!RECORD_KINDS.includes(kind) && !KEY_KINDS.includes(kind)) throw encodingError(`event.kind: unknown kind ${JSON.stringify(kind)}`);
  const event: Event = {
    kind,
    logId: h32(e[1], "event.logId"),
    recordId: h32(e[2], "event.recordId"),
    version: uint(e[3], "event.version"),
    previous: h32(e[4], "event.previous"),
    commitment: h32(e[5], "event.commitment"),
    ciphertextDigest: h32(e[6], "event.ciphertextDigest"),
    author: address(read, e[7], "event.author"),
    time: uint(e[8], "event.time"),
    sources: list(e[9], "event.sources").map((s, i) => h32(s, `event.sources[${i}]`)),
    subject: address(read, e[10], "event.subject"),
    purpose: text(e[11], "event.purpose"),
    role: text(e[12], "event.role"),
    notBefore: uint(e[13], "event.notBefore"),
    notAfter: uint(e[14], "event.notAfter"),
  };
  checkEvent(event);
  const signature = fixed(read, sig, "signature", 65);

  const [digestsRaw, fieldsRaw] = members(disc, DISCLOSURE_KEYS, "disclosure");
  const digests = list(digestsRaw, "disclosure.digests").map((d, i) => h32(d, `disclosure.digests[${i}]`));
  const fields: DisclosedField[] = list(fieldsRaw, "disclosure.fields").map((f, i) => {
    const where = `disclosure.fields[${i}]`;
    let p: Raw, salt: Raw, value: Bytes;
    if (read === readHex) {
      const [a, b, c] = members(f, FIELD_KEYS, where);
      p = a;
      salt = b;
      value = utf8(text(c, `${where}.value`));
    } else {
      const items = list(f, where);
      if (items.length !== 3) throw encodingError(`${where}: expected [path, salt, value]`);
      p = items[0];
      salt = items[1];
      value = read(items[2], `${where}.value`);
      if (decodeUtf8(value) === null) throw encodingError(`${where}.value: not UTF-8`);
    }
    return { path: path(p, `${where}.path`), salt: fixed(read, salt, `${where}.salt`, 16), value };
  });
  const order = fields.map((f) => pathBytes(f.path));
  for (let i = 1; i < order.length; i++)
    if (compare(order[i - 1], order[i]) >= 0)
      throw new OkeiosError("NonCanonicalEncodingError",
        "disclosure.fields: fields must be in strictly ascending order of their hashed path");

  const [index, treeSize, proof] = members(inc, INCLUSION_KEYS, "inclusion");
  const inclusion = {
    index: uint(index, "inclusion.index"),
    treeSize: uint(treeSize, "inclusion.treeSize"),
    path: list(proof, "inclusion.path").map((x, i) => h32(x, `inclusion.path[${i}]`)),
  };
  const c = members(cp, CHECKPOINT_KEYS, "checkpoint");
  const checkpoint = {
    logId: h32(c[0], "checkpoint.logId"),
    treeSize: uint(c[1], "checkpoint.treeSize"),
    root: h32(c[2], "checkpoint.root"),
    publisher: address(read, c[3], "checkpoint.publisher"),
    signature: fixed(read, c[4], "checkpoint.signature", 65),
  };
  let anchorRef: Bundle["anchor"] = null;
  if (anchor !== null && anchor !== undefined) {
    const [chainId, registry, tx, block, ext] = members(anchor, ANCHOR_KEYS, "anchor");
    let extension: NonNullable<Bundle["anchor"]>["extension"] = null;
    if (ext !== null && ext !== undefined) {
      const [s, r, pr] = members(ext, EXTENSION_KEYS, "anchor.extension");
      extension = {
        treeSize: uint(s, "anchor.extension.treeSize"),
        root: h32(r, "anchor.extension.root"),
        proof: list(pr, "anchor.extension.proof").map((x, i) => h32(x, `anchor.extension.proof[${i}]`)),
      };
    }
    anchorRef = {
      chainId: uint(chainId, "anchor.chainId"),
      registry: read === readHex ? addr(address(read, registry, "anchor.registry")) : fixed(read, registry, "anchor.registry", 20),
      transaction: h32(tx, "anchor.transaction"),
      block: uint(block, "anchor.block"),
      extension,
    };
  }
  return { event, signature, digests, fields, inclusion, checkpoint, anchor: anchorRef };
}

// --- canonical MessagePack ---------------------------------------------------------------------

class Writer {
  parts: number[] = [];
  chunks: Bytes[] = [];
  private flush() {
    if (this.parts.length) {
      this.chunks.push(Uint8Array.from(this.parts));
      this.parts = [];
    }
  }
  head(small: number, n: number, codes: [number, number, number]) {
    // codes: 8-bit, 16-bit, 32-bit length markers; small: fix marker or -1
    if (small >= 0) this.parts.push(small | n);
    else if (codes[0] >= 0 && n < 0x100) this.parts.push(codes[0], n);
    else if (n < 0x10000) this.parts.push(codes[1], n >> 8, n & 255);
    else this.parts.push(codes[2], (n >>> 24) & 255, (n >> 16) & 255, (n >> 8) & 255, n & 255);
  }
  uint(v: bigint) {
    if (v < 128n) this.parts.push(Number(v));
    else if (v < 0x100n) this.parts.push(0xcc, Number(v));
    else if (v < 0x10000n) this.parts.push(0xcd, Number(v >> 8n), Number(v & 255n));
    else if (v < 0x100000000n) {
      this.parts.push(0xce);
      for (let s = 24n; s >= 0n; s -= 8n) this.parts.push(Number((v >> s) & 255n));
    } else {
      this.parts.push(0xcf);
      for (let s = 56n; s >= 0n; s -= 8n) this.parts.push(Number((v >> s) & 255n));
    }
  }
  str(s: string) {
    const b = utf8(s);
    this.head(b.length < 32 ? 0xa0 : -1, b.length, [0xd9, 0xda, 0xdb]);
    this.raw(b);
  }
  bin(b: Bytes) {
    this.head(-1, b.length, [0xc4, 0xc5, 0xc6]);
    this.raw(b);
  }
  array(n: number) {
    this.head(n < 16 ? 0x90 : -1, n, [-1, 0xdc, 0xdd]);
  }
  map(n: number) {
    this.head(n < 16 ? 0x80 : -1, n, [-1, 0xde, 0xdf]);
  }
  nil() {
    this.parts.push(0xc0);
  }
  raw(b: Bytes) {
    this.flush();
    this.chunks.push(b);
  }
  bytes(): Bytes {
    this.flush();
    return concat(...this.chunks);
  }
}

const addr = (a: string) => fromHex("0x" + a.slice(2).toLowerCase())!;

/** The canonical binary form of a bundle. */
export function encodeBundle(b: Bundle): Bytes {
  const w = new Writer();
  const keyed = (k: string) => w.str(k);
  const hashes = (xs: Bytes[]) => {
    w.array(xs.length);
    xs.forEach((x) => w.bin(x));
  };
  w.map(6);
  keyed("event");
  w.map(15);
  const e = b.event;
  keyed("kind"); w.str(e.kind);
  keyed("logId"); w.bin(e.logId);
  keyed("recordId"); w.bin(e.recordId);
  keyed("version"); w.uint(e.version);
  keyed("previous"); w.bin(e.previous);
  keyed("commitment"); w.bin(e.commitment);
  keyed("ciphertextDigest"); w.bin(e.ciphertextDigest);
  keyed("author"); w.bin(addr(e.author));
  keyed("time"); w.uint(e.time);
  keyed("sources"); hashes(e.sources);
  keyed("subject"); w.bin(addr(e.subject));
  keyed("purpose"); w.str(e.purpose);
  keyed("role"); w.str(e.role);
  keyed("notBefore"); w.uint(e.notBefore);
  keyed("notAfter"); w.uint(e.notAfter);
  keyed("signature"); w.bin(b.signature);
  keyed("disclosure");
  w.map(2);
  keyed("digests"); hashes(b.digests);
  keyed("fields");
  w.array(b.fields.length);
  for (const f of b.fields) {
    w.array(3);
    w.array(f.path.length);
    for (const t of f.path) typeof t === "string" ? w.str(t) : w.uint(t);
    w.bin(f.salt);
    w.bin(f.value);
  }
  keyed("inclusion");
  w.map(3);
  keyed("index"); w.uint(b.inclusion.index);
  keyed("treeSize"); w.uint(b.inclusion.treeSize);
  keyed("path"); hashes(b.inclusion.path);
  keyed("checkpoint");
  w.map(5);
  const c = b.checkpoint;
  keyed("logId"); w.bin(c.logId);
  keyed("treeSize"); w.uint(c.treeSize);
  keyed("root"); w.bin(c.root);
  keyed("publisher"); w.bin(addr(c.publisher));
  keyed("signature"); w.bin(c.signature);
  keyed("anchor");
  if (b.anchor === null) w.nil();
  else {
    const a = b.anchor;
    w.map(5);
    keyed("chainId"); w.uint(a.chainId);
    keyed("registry"); w.bin(a.registry);
    keyed("transaction"); w.bin(a.transaction);
    keyed("block"); w.uint(a.block);
    keyed("extension");
    if (a.extension === null) w.nil();
    else {
      w.map(3);
      keyed("treeSize"); w.uint(a.extension.treeSize);
      keyed("root"); w.bin(a.extension.root);
      keyed("proof"); hashes(a.extension.proof);
    }
  }
  return concat(MAGIC, new Uint8Array([MAJOR_VERSION]), w.bytes());
}

export function decodeBinary(data: Bytes): Bundle {
  if (data.length > MAX_BUNDLE_SIZE) throw encodingError(`a bundle is at most ${MAX_BUNDLE_SIZE} bytes`);
  if (data.length < MAGIC.length + 1) {
    const head = data.subarray(0, MAGIC.length);
    if (data.length && equal(head, MAGIC.subarray(0, head.length)))
      throw new OkeiosError("TruncationError", "the bundle ends inside its header");
    throw new OkeiosError("BadMagicError", "not an okeios bundle (no magic)");
  }
  if (!equal(data.subarray(0, MAGIC.length), MAGIC))
    throw new OkeiosError("BadMagicError", "not an okeios bundle: the magic bytes do not match");
  const major = data[MAGIC.length];
  if (major !== MAJOR_VERSION) throw new OkeiosError("UnsupportedVersionError", versionMessage(major));
  const body = data.subarray(MAGIC.length + 1);
  const raw: Raw = decodeMsgpack(body, MAX_ELEMENTS);
  const bundle = decodeBody(raw, readBin);
  if (!equal(encodeBundle(bundle), data))
    throw new OkeiosError("NonCanonicalEncodingError", "the bundle is not in its canonical encoding");
  return bundle;
}

export function decodeJson(data: Bytes): Bundle {
  if (data.length > MAX_BUNDLE_SIZE) throw encodingError(`a bundle is at most ${MAX_BUNDLE_SIZE} bytes`);
  let commas = 0;
  for (const x of data) if (x === 0x2c) commas++;
  if (commas > MAX_ELEMENTS) throw encodingError(`the bundle has more than ${MAX_ELEMENTS} elements`);
  let raw: JSONValue;
  try {
    raw = parseJson(data, MAX_JSON_DEPTH, true);
  } catch (e) {
    if (e instanceof OkeiosError && e.name === "NestingError")
      throw encodingError(`the bundle nests deeper than ${MAX_JSON_DEPTH} levels`);
    if (e instanceof OkeiosError && e.name === "DuplicateKeyError")
      throw encodingError(`the JSON bundle is ambiguous: ${e.message}`);
    throw encodingError(`the bundle is not valid JSON: ${(e as Error).message}`);
  }
  if (!(raw instanceof Map)) throw encodingError("a JSON bundle is an object");
  if (raw.get("mediaType") !== JSON_MEDIA_TYPE)
    throw new OkeiosError("BadMagicError", "not an okeios JSON bundle (mediaType)");
  const version = raw.get("version");
  // `version` is the integer 2 (a `2.0` or `2e0` is another version, as the specification
  // says; a reader whose JSON numbers are doubles must not let it pass as 2).
  if (version !== 2n) throw new OkeiosError("UnsupportedVersionError", versionMessage(typeof version === "bigint" ? version : "?"));
  checkOrder([...raw.entries()], JSON_TOP_KEYS, "bundle");
  const body = new Map([...raw.entries()].filter(([k]) => k !== "mediaType" && k !== "version"));
  return decodeBody(body, readHex);
}

/** Decode either form, telling them apart by the first byte. */
export function loadBundle(data: Bytes): Bundle {
  if (data.length && data[0] === MAGIC[0]) return decodeBinary(data);
  let i = 0;
  while (i < data.length && [0x20, 0x09, 0x0a, 0x0d, 0x0b, 0x0c].includes(data[i])) i++;
  if (data[i] === 0x7b) return decodeJson(data);
  throw new OkeiosError("BadMagicError", "not an okeios bundle (neither the binary magic nor a JSON object)");
}

export { toHex };
