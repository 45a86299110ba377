// Strict JSON parsing and the okeios profile of RFC 8785 (docs/canonicalization.md): numbers
// are kept as written (integers exact as bigint, other numbers as their token), never rounded.

import { decodeUtf8, utf8, hasLoneSurrogate, Bytes } from "./bytes.js";
import { OkeiosError } from "./errors.js";

/** A number token with a fraction or an exponent, kept verbatim. */
export class JSONNumber {
  constructor(readonly token: string) {}
}

export type JSONValue = null | boolean | string | bigint | JSONNumber | JSONValue[] | JSONObject;
/** An object: members in the order they were read (names are unique). */
export type JSONObject = Map<string, JSONValue>;

export const MAX_DEPTH = 100;
const MAX_INT_DIGITS = 4300;

const malformed = (m: string) => new OkeiosError("MalformedJSONError", m);

/** Parse untrusted UTF-8 JSON bytes strictly (docs/canonicalization.md section 2). */
/** `unsigned`: a negative integer token (-0 included) is read as a number token, not an
 * integer (the bundle's JSON form has unsigned integers only). */
export function parseJson(data: Bytes, maxDepth = MAX_DEPTH, unsigned = false): JSONValue {
  if (data.length >= 3 && data[0] === 0xef && data[1] === 0xbb && data[2] === 0xbf)
    throw malformed("JSON text starts with a byte order mark");
  const text = decodeUtf8(data);
  if (text === null) throw malformed("JSON text is not valid UTF-8");
  return parseJsonText(text, maxDepth, unsigned);
}

export function parseJsonText(text: string, maxDepth = MAX_DEPTH, unsigned = false): JSONValue {
  let i = 0;
  const n = text.length;
  const ws = () => {
    while (i < n) {
      const c = text.charCodeAt(i);
      if (c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d) i++;
      else break;
    }
  };
  const where = () => `at character ${i}`;
  const str = (): string => {
    // text[i] is '"'
    i++;
    let out = "";
    let start = i;
    for (;;) {
      if (i >= n) throw malformed(`unterminated string ${where()}`);
      const c = text.charCodeAt(i);
      if (c === 0x22) {
        out += text.slice(start, i);
        i++;
        break;
      }
      if (c < 0x20) throw malformed(`raw control character in a string ${where()}`);
      if (c === 0x5c) {
        out += text.slice(start, i);
        const e = text[i + 1];
        i += 2;
        switch (e) {
          case '"': out += '"'; break;
          case "\\": out += "\\"; break;
          case "/": out += "/"; break;
          case "b": out += "\b"; break;
          case "f": out += "\f"; break;
          case "n": out += "\n"; break;
          case "r": out += "\r"; break;
          case "t": out += "\t"; break;
          case "u": {
            const h = text.slice(i, i + 4);
            if (!/^[0-9a-fA-F]{4}$/.test(h)) throw malformed(`bad \\u escape ${where()}`);
            out += String.fromCharCode(parseInt(h, 16));
            i += 4;
            break;
          }
          default:
            throw malformed(`bad escape ${where()}`);
        }
        start = i;
        continue;
      }
      i++;
    }
    if (hasLoneSurrogate(out)) throw malformed(`a string holds a lone surrogate ${where()}`);
    return out;
  };
  const NUM = /-?(?:0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?/y;
  const num = (): bigint | JSONNumber => {
    NUM.lastIndex = i;
    const m = NUM.exec(text);
    if (m === null) throw malformed(`bad number ${where()}`);
    const token = m[0];
    i += token.length;
    if (m[1] === undefined && m[2] === undefined) {
      const digits = token.startsWith("-") ? token.length - 1 : token.length;
      if (digits > MAX_INT_DIGITS)
        throw new OkeiosError("NumberError", `an integer of more than ${MAX_INT_DIGITS} digits`);
      // A negative integer (-0 included) of the bundle's JSON form is no unsigned integer:
      // kept as a number token, which every integer member refuses where it is read.
      if (unsigned && token.startsWith("-")) return new JSONNumber(token);
      return BigInt(token);
    }
    return new JSONNumber(token);
  };
  const value = (depth: number): JSONValue => {
    ws();
    if (i >= n) throw malformed(`unexpected end of JSON ${where()}`);
    const c = text[i];
    if (c === "{" || c === "[") {
      if (depth + 1 > maxDepth)
        throw new OkeiosError("NestingError", `JSON nests deeper than ${maxDepth} levels`);
      i++;
      if (c === "[") {
        const arr: JSONValue[] = [];
        ws();
        if (text[i] === "]") {
          i++;
          return arr;
        }
        for (;;) {
          arr.push(value(depth + 1));
          ws();
          if (text[i] === ",") { i++; continue; }
          if (text[i] === "]") { i++; return arr; }
          throw malformed(`expected , or ] ${where()}`);
        }
      }
      const obj: JSONObject = new Map();
      ws();
      if (text[i] === "}") {
        i++;
        return obj;
      }
      for (;;) {
        ws();
        if (text[i] !== '"') throw malformed(`expected a member name ${where()}`);
        const k = str();
        ws();
        if (text[i] !== ":") throw malformed(`expected : ${where()}`);
        i++;
        const v = value(depth + 1);
        if (obj.has(k))
          throw new OkeiosError("DuplicateKeyError", `duplicate member name ${JSON.stringify(k)} in a JSON object`);
        obj.set(k, v);
        ws();
        if (text[i] === ",") { i++; continue; }
        if (text[i] === "}") { i++; return obj; }
        throw malformed(`expected , or } ${where()}`);
      }
    }
    if (c === '"') return str();
    if (c === "-" || (c >= "0" && c <= "9")) return num();
    for (const [word, v] of [["true", true], ["false", false], ["null", null]] as const) {
      if (text.startsWith(word, i)) {
        i += word.length;
        return v;
      }
    }
    if (text.startsWith("NaN", i) || text.startsWith("Infinity", i))
      throw new OkeiosError("NumberError", "NaN and Infinity are not JSON numbers");
    throw malformed(`unexpected character ${where()}`);
  };
  const v = value(0);
  ws();
  if (i !== n) throw malformed(`extra data after the JSON value ${where()}`);
  return v;
}

function escapeString(s: string): string {
  if (hasLoneSurrogate(s))
    throw new OkeiosError("CanonicalizationError", "a string holds a lone surrogate");
  let out = '"';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x22) out += '\\"';
    else if (c === 0x5c) out += "\\\\";
    else if (c < 0x20) {
      const short: Record<number, string> = { 8: "\\b", 9: "\\t", 10: "\\n", 12: "\\f", 13: "\\r" };
      out += short[c] ?? "\\u00" + c.toString(16).padStart(2, "0");
    } else out += s[i];
  }
  return out + '"';
}

/** UTF-16 code unit order, as RFC 8785 sorts member names (JavaScript's own string order). */
export const utf16Order = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/** The canonical text of a value under the okeios profile. */
export function canonicalText(v: JSONValue, depth = 0): string {
  if (depth > MAX_DEPTH + 1) throw new OkeiosError("NestingError", "value nests too deep");
  if (v === null) return "null";
  if (v === true) return "true";
  if (v === false) return "false";
  if (typeof v === "string") return escapeString(v);
  if (typeof v === "bigint") return v.toString();
  if (v instanceof JSONNumber) return v.token;
  if (Array.isArray(v)) return "[" + v.map((x) => canonicalText(x, depth + 1)).join(",") + "]";
  const keys = [...v.keys()].sort(utf16Order);
  return "{" + keys.map((k) => escapeString(k) + ":" + canonicalText(v.get(k)!, depth + 1)).join(",") + "}";
}

export function canonicalBytes(v: JSONValue): Bytes {
  return utf8(canonicalText(v));
}

/** A typed path token: a member name (string) or an array index (bigint). */
export type Token = string | bigint;

/** Every leaf (scalars, and empty objects and arrays) with its typed path, in canonical order. */
export function* typedLeaves(v: JSONValue, path: Token[] = []): Generator<[Token[], JSONValue]> {
  if (Array.isArray(v)) {
    if (v.length === 0) yield [path, v];
    for (let k = 0; k < v.length; k++) yield* typedLeaves(v[k], [...path, BigInt(k)]);
    return;
  }
  if (v instanceof Map) {
    if (v.size === 0) yield [path, v];
    for (const k of [...v.keys()].sort(utf16Order)) yield* typedLeaves(v.get(k)!, [...path, k]);
    return;
  }
  yield [path, v];
}

/** The RFC 6901 JSON Pointer of a typed path (a display form). */
export function formatPointer(path: Token[]): string {
  return path
    .map((t) => "/" + (typeof t === "bigint" ? t.toString() : t.replace(/~/g, "~0").replace(/\//g, "~1")))
    .join("");
}
