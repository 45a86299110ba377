// A strict MessagePack reader for bundle bodies. It keeps every distinction the bundle rules
// need (float vs integer, str vs bin, key types) and refuses, in stream order, what a
// conforming reader refuses: text that is not UTF-8, map keys that are not text or bytes,
// lengths past the end of the input (truncation), nesting past a fixed depth, more elements
// than MAX_ELEMENTS. Memory stays proportional to the input: no container is allocated
// ahead of the elements actually read.

import { Bytes, decodeUtf8, toHex } from "./bytes.js";
import { OkeiosError } from "./errors.js";

/** A float, kept apart from integers (no bundle field is a float). */
export class MsgFloat {
  constructor(readonly value: number) {}
}
/** An extension value (no bundle field is one). */
export class MsgExt {
  constructor(readonly type: number, readonly data: Bytes) {
    // Types -128..-2 are reserved and -1 is a timestamp of 4, 8 or 12 bytes: anything else is
    // refused where it is read.
    if (type < -1 || (type === -1 && ![4, 8, 12].includes(data.length)))
      throw new OkeiosError("EncodingError", `the bundle body is not valid msgpack: extension type ${type}`);
  }
}
/** A map key that was bytes, not text: it never names a known field. */
export const binKey = (b: Bytes) => `\u0000bin:${toHex(b)}`;

export type MsgValue = null | boolean | bigint | string | Bytes | MsgFloat | MsgExt | MsgValue[] | Map<string, MsgValue>;

const MAX_DEPTH = 1024;

export function decodeMsgpack(data: Bytes, maxElements: number): MsgValue {
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  let pos = 0;
  let budget = maxElements;
  const truncated = () => new OkeiosError("TruncationError", `the bundle body is truncated (at byte ${pos})`);
  const bad = (m: string) => new OkeiosError("EncodingError", `the bundle body is not valid msgpack: ${m}`);
  const need = (n: number) => {
    if (pos + n > data.length) throw truncated();
  };
  const u8 = () => (need(1), data[pos++]);
  const u16 = () => (need(2), (pos += 2), view.getUint16(pos - 2));
  const u32 = () => (need(4), (pos += 4), view.getUint32(pos - 4));
  const take = (n: number) => (need(n), (pos += n), data.subarray(pos - n, pos));
  const str = (n: number): string => {
    const s = decodeUtf8(take(n));
    if (s === null) throw bad(`text at byte ${pos - n} is not UTF-8`);
    return s;
  };
  const count = (n: number, what: string) => {
    if (n > maxElements) throw new OkeiosError("EncodingError", `the bundle has too many elements (${what} of ${n})`);
    return n;
  };
  const spend = (n: number) => {
    budget -= n + 1;
    if (budget < 0) throw new OkeiosError("EncodingError", `the bundle has more than ${maxElements} elements`);
  };
  const value = (depth: number): MsgValue => {
    if (depth > MAX_DEPTH) throw bad("nesting too deep");
    const b = u8();
    if (b <= 0x7f) return BigInt(b);
    if (b >= 0xe0) return BigInt(b - 0x100);
    if (b >= 0xa0 && b <= 0xbf) return str(b & 0x1f);
    if (b >= 0x90 && b <= 0x9f) return array(b & 0x0f, depth);
    if (b >= 0x80 && b <= 0x8f) return map(b & 0x0f, depth);
    switch (b) {
      case 0xc0: return null;
      case 0xc2: return false;
      case 0xc3: return true;
      case 0xc4: return take(u8()).slice();
      case 0xc5: return take(u16()).slice();
      case 0xc6: return take(u32()).slice();
      case 0xc7: { const n = u8(); const t = (u8() << 24) >> 24; return new MsgExt(t, take(n).slice()); }
      case 0xc8: { const n = u16(); const t = (u8() << 24) >> 24; return new MsgExt(t, take(n).slice()); }
      case 0xc9: { const n = u32(); const t = (u8() << 24) >> 24; return new MsgExt(t, take(n).slice()); }
      case 0xca: need(4); pos += 4; return new MsgFloat(view.getFloat32(pos - 4));
      case 0xcb: need(8); pos += 8; return new MsgFloat(view.getFloat64(pos - 8));
      case 0xcc: return BigInt(u8());
      case 0xcd: return BigInt(u16());
      case 0xce: return BigInt(u32());
      case 0xcf: need(8); pos += 8; return view.getBigUint64(pos - 8);
      case 0xd0: need(1); pos += 1; return BigInt(view.getInt8(pos - 1));
      case 0xd1: need(2); pos += 2; return BigInt(view.getInt16(pos - 2));
      case 0xd2: need(4); pos += 4; return BigInt(view.getInt32(pos - 4));
      case 0xd3: need(8); pos += 8; return view.getBigInt64(pos - 8);
      case 0xd4: { const t = (u8() << 24) >> 24; return new MsgExt(t, take(1).slice()); }
      case 0xd5: { const t = (u8() << 24) >> 24; return new MsgExt(t, take(2).slice()); }
      case 0xd6: { const t = (u8() << 24) >> 24; return new MsgExt(t, take(4).slice()); }
      case 0xd7: { const t = (u8() << 24) >> 24; return new MsgExt(t, take(8).slice()); }
      case 0xd8: { const t = (u8() << 24) >> 24; return new MsgExt(t, take(16).slice()); }
      case 0xd9: return str(u8());
      case 0xda: return str(u16());
      case 0xdb: return str(u32());
      case 0xdc: return array(count(u16(), "array"), depth);
      case 0xdd: return array(count(u32(), "array"), depth);
      case 0xde: return map(count(u16(), "map"), depth);
      case 0xdf: return map(count(u32(), "map"), depth);
      default: throw bad(`reserved byte 0x${b.toString(16)} at ${pos - 1}`);
    }
  };
  const array = (n: number, depth: number): MsgValue[] => {
    const out: MsgValue[] = [];
    for (let i = 0; i < n; i++) out.push(value(depth + 1));
    spend(n);
    return out;
  };
  const map = (n: number, depth: number): Map<string, MsgValue> => {
    const out = new Map<string, MsgValue>();
    for (let i = 0; i < n; i++) {
      // The key's type is checked once its value has been read, as the reference reader does.
      const k = value(depth + 1);
      const v = value(depth + 1);
      let key: string;
      if (typeof k === "string") key = k;
      else if (k instanceof Uint8Array) key = binKey(k);
      else throw bad(`${typeof k === "bigint" ? "int" : typeof k} is not allowed for map key`);
      out.set(key, v);
    }
    spend(n);
    return out;
  };
  const v = value(0);
  if (pos !== data.length)
    throw new OkeiosError("TrailingGarbageError", `${data.length - pos} bytes follow the bundle body`);
  return v;
}
