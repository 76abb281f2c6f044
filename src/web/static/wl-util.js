// wl-util.js: byte encodings and hashing for the wasteledger web app (plain ES module).
//
// Every decoder is strict: one text has one reading, and bad input throws an Error naming what
// was expected. Bytes are Uint8Array everywhere.
//
// Exports:
//   b64encode(bytes) -> string          RFC 4648 base64, standard alphabet, padded (what the server writes)
//   b64decode(text)  -> Uint8Array      strict: standard alphabet, padding required, zero unused bits
//   b64urlEncode(bytes) / b64urlDecode(text)   RFC 4648 base64url, unpadded
//   b32encode(bytes) -> string          RFC 4648 base32, upper case, unpadded
//   b32decode(text)  -> Uint8Array      strict as fixtures/qr/FORMAT.md says: upper case A-Z2-7 only,
//                                        no padding, a length a base32 encoder can write, zero unused bits
//   hexEncode(bytes) -> lower-case hex;  hexDecode(text) -> Uint8Array (either case, even length)
//   utf8Encode(string) -> Uint8Array;    utf8Decode(bytes) -> string (refuses invalid UTF-8)
//   sha256(bytes) -> Promise<Uint8Array(32)>   (WebCrypto)
//   concatBytes(...arrays) -> Uint8Array;  equalBytes(a, b) -> boolean;  randomBytes(n) -> Uint8Array

const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
const B64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
const B32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

function table(alphabet) {
  const t = new Int16Array(128).fill(-1);
  for (let i = 0; i < alphabet.length; i++) t[alphabet.charCodeAt(i)] = i;
  return t;
}
const B64_T = table(B64);
const B64URL_T = table(B64URL);
const B32_T = table(B32);

function bytesOf(x, what) {
  if (x instanceof Uint8Array) return x;
  if (x instanceof ArrayBuffer) return new Uint8Array(x);
  if (ArrayBuffer.isView(x)) return new Uint8Array(x.buffer, x.byteOffset, x.byteLength);
  throw new TypeError(`${what}: expected bytes (Uint8Array), got ${typeof x}`);
}

// Base 2^bits encoding of bytes, most significant bits first (base64, base32).
function encodeBits(bytes, alphabet, bits) {
  bytes = bytesOf(bytes, 'encode');
  let out = '';
  let acc = 0;
  let n = 0;
  const mask = (1 << bits) - 1;
  for (const b of bytes) {
    acc = ((acc << 8) | b) & 0xffff;
    n += 8;
    while (n >= bits) {
      n -= bits;
      out += alphabet[(acc >> n) & mask];
    }
  }
  if (n > 0) out += alphabet[(acc << (bits - n)) & mask];
  return out;
}

function decodeBits(text, t, bits, what) {
  if (typeof text !== 'string') throw new TypeError(`${what}: expected text, got ${typeof text}`);
  const out = new Uint8Array(Math.floor((text.length * bits) / 8));
  let acc = 0;
  let n = 0;
  let j = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    const v = c < 128 ? t[c] : -1;
    if (v < 0) {
      throw new Error(`${what}: character ${i + 1} (${JSON.stringify(text[i])}) is not in the alphabet`);
    }
    acc = ((acc << bits) | v) & 0xffff;
    n += bits;
    if (n >= 8) {
      n -= 8;
      out[j++] = (acc >> n) & 0xff;
    }
  }
  if (n >= bits) throw new Error(`${what}: ${text.length} characters is not a length an encoder writes`);
  if ((acc & ((1 << n) - 1)) !== 0) throw new Error(`${what}: the unused trailing bits are not zero`);
  return out.subarray(0, j);
}

export function b64encode(bytes) {
  const s = encodeBits(bytes, B64, 6);
  return s + '='.repeat((4 - (s.length % 4)) % 4);
}

export function b64decode(text) {
  if (typeof text !== 'string' || text.length % 4 !== 0) {
    throw new Error('base64: expected padded base64 (a multiple of 4 characters)');
  }
  const pad = text.endsWith('==') ? 2 : text.endsWith('=') ? 1 : 0;
  return decodeBits(text.slice(0, text.length - pad), B64_T, 6, 'base64');
}

export function b64urlEncode(bytes) {
  return encodeBits(bytes, B64URL, 6);
}

export function b64urlDecode(text) {
  return decodeBits(text, B64URL_T, 6, 'base64url');
}

export function b32encode(bytes) {
  return encodeBits(bytes, B32, 5);
}

export function b32decode(text) {
  return decodeBits(text, B32_T, 5, 'base32');
}

export function hexEncode(bytes) {
  bytes = bytesOf(bytes, 'hex');
  let s = '';
  for (const b of bytes) s += b.toString(16).padStart(2, '0');
  return s;
}

export function hexDecode(text) {
  if (typeof text !== 'string' || text.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(text)) {
    throw new Error('hex: expected an even number of hexadecimal digits');
  }
  const out = new Uint8Array(text.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(text.substr(2 * i, 2), 16);
  return out;
}

const ENC = new TextEncoder();
const DEC = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

export function utf8Encode(s) {
  return ENC.encode(s);
}

export function utf8Decode(bytes) {
  try {
    return DEC.decode(bytesOf(bytes, 'utf8'));
  } catch (e) {
    throw new Error('utf8: expected UTF-8 text');
  }
}

export async function sha256(bytes) {
  return new Uint8Array(await crypto.subtle.digest('SHA-256', bytesOf(bytes, 'sha256')));
}

export function concatBytes(...arrays) {
  const all = arrays.map((a) => bytesOf(a, 'concat'));
  const out = new Uint8Array(all.reduce((n, a) => n + a.length, 0));
  let at = 0;
  for (const a of all) {
    out.set(a, at);
    at += a.length;
  }
  return out;
}

export function equalBytes(a, b) {
  if (a.length !== b.length) return false;
  let d = 0;
  for (let i = 0; i < a.length; i++) d |= a[i] ^ b[i];
  return d === 0;
}

export function randomBytes(n) {
  return crypto.getRandomValues(new Uint8Array(n));
}
