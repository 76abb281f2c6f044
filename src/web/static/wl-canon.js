// wl-canon.js: RFC 8785 (JCS) canonical JSON of the values wasteledger events hold.
//
// The log takes signed data only in this form (src/ledger/canonical.rs): objects with their keys
// sorted by UTF-16 code units, no whitespace, strings escaped as JSON.stringify escapes them,
// and numbers that are integers within ±(2^53−1) only (no floating point in signed data: use an
// integer base unit such as grams). Anything else is refused with an Error naming the field path
// (`lines[0].quantity.amount`), never silently changed.
//
// Exports:
//   canonicalize(value) -> string            the canonical JSON text
//   canonicalBytes(value) -> Uint8Array      its UTF-8 bytes (what is signed and hashed)
//   parseCanonical(textOrBytes) -> value     JSON that must already be canonical, byte for byte
//                                            (as the server's parse_canonical); throws otherwise
//   MAX_SAFE_INTEGER                         2^53 − 1
//
// Accepted values: plain objects (own enumerable string keys), arrays, strings (well-formed
// UTF-16: no lone surrogates), booleans, null, safe integers (Number or BigInt; −0 is written 0).
// Refused: non-integers, NaN, ±Infinity, |n| > 2^53−1, undefined, functions, symbols, Dates,
// typed arrays, Maps and any other non-plain object.

import { utf8Encode, utf8Decode } from './wl-util.js';

export const MAX_SAFE_INTEGER = Number.MAX_SAFE_INTEGER;

function fail(path, what) {
  throw new Error(`field \`${path || '(top level)'}\`: ${what}`);
}

const LONE_SURROGATE = /[\uD800-\uDFFF]/u;

function str(s, path) {
  if (LONE_SURROGATE.test(s)) fail(path, 'strings must be well-formed Unicode (a lone surrogate was found)');
  return JSON.stringify(s);
}

function write(v, path) {
  if (v === null) return 'null';
  switch (typeof v) {
    case 'boolean':
      return v ? 'true' : 'false';
    case 'string':
      return str(v, path);
    case 'number':
      if (!Number.isSafeInteger(v)) {
        fail(path, `numbers must be integers between -(2^53-1) and 2^53-1 (use an integer base unit such as grams), got ${v}`);
      }
      return Object.is(v, -0) ? '0' : String(v);
    case 'bigint':
      if (v > BigInt(MAX_SAFE_INTEGER) || v < -BigInt(MAX_SAFE_INTEGER)) {
        fail(path, `numbers must be integers between -(2^53-1) and 2^53-1, got ${v}`);
      }
      return String(v);
    case 'object':
      break;
    default:
      fail(path, `a JSON value cannot be ${typeof v}`);
  }
  if (Array.isArray(v)) {
    return '[' + v.map((x, i) => write(x, `${path}[${i}]`)).join(',') + ']';
  }
  const proto = Object.getPrototypeOf(v);
  if (proto !== Object.prototype && proto !== null) {
    fail(path, `expected a plain object, got ${proto && proto.constructor ? proto.constructor.name : 'an object'}`);
  }
  // Default sort compares UTF-16 code units: RFC 8785's order.
  const keys = Object.keys(v).sort();
  const parts = [];
  for (const k of keys) {
    const p = path ? `${path}.${k}` : k;
    if (v[k] === undefined) fail(p, 'undefined is not a JSON value (leave the field out)');
    parts.push(str(k, p) + ':' + write(v[k], p));
  }
  return '{' + parts.join(',') + '}';
}

export function canonicalize(value) {
  return write(value, '');
}

export function canonicalBytes(value) {
  return utf8Encode(canonicalize(value));
}

export function parseCanonical(input) {
  const text = typeof input === 'string' ? input : utf8Decode(input);
  let value;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new Error(`not valid JSON: ${e.message}`);
  }
  const again = canonicalize(value);
  if (again !== text) {
    let at = 0;
    while (at < again.length && again[at] === text[at]) at++;
    throw new Error(
      `valid JSON but not in RFC 8785 canonical form (sorted keys, no whitespace, no duplicate keys, minimal escapes, integers only); canonical form begins differently at character ${at}`,
    );
  }
  return value;
}
