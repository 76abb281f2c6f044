// wl-codes.js: reading and checking wasteledger QR codes offline, as fixtures/qr/FORMAT.md
// defines them (the reference is src/qr/token.rs and src/qr/handover.rs; the vectors in
// fixtures/qr/*.json are re-checked against this module by tests/it/js_modules.rs).
//
// Two codes:
//   manifest / container token  `WL` + base32: signed by the log's key, checked with the log's
//                                verifier key (GET /v1/log/key), e.g.
//                                `kunshan.wasteledger/log+d1a3d774+AdBK…`
//   hand-over code               `WLH1` + base32: a custody.handover signed by the party handing
//                                over; the decoder rebuilds the canonical JSON byte for byte
//
// Verdicts (the strings the vectors use): 'valid', 'other_log', 'bad_signature',
// 'unknown_version', 'malformed' (with `field`, as in "malformed: signature").
//
// Exports:
//   CodeError                                  Error with .verdict ('malformed' | 'unknown_version'),
//                                              .field and .detail
//   payloadToken(text) -> token text           a bare token, or the last path segment of a URL
//                                              (query, fragment and trailing '/' dropped); throws
//                                              CodeError malformed 'payload' otherwise
//   decodeToken(text) -> {body, bodyBytes, keyId, keyIdHex, signature}   throws CodeError.
//        body is the token's content, as the vectors' JSON has it:
//        {kind: {type: 'manifest'} | {type: 'container', line, id}, number: '14 digits', version,
//         stream: 'hazardous'|'construction', issue_index, issued_at_s, generator (USCC),
//         destination, lines: [{code: 'ddd-ddd-dd' | cw_type: 'excavated_soil'|'slurry'|
//         'site_waste'|'demolition'|'renovation', quantity: {amount, unit: 'g'|'ml'}}]}
//        (u64 fields are Numbers, or BigInt above 2^53−1)
//   parseVerifierKey(text) -> {name, keyId, keyIdHex, key}   throws Error (the key id is checked)
//   verifyToken(decodedOrText, verifierKeyText) -> Promise<{verdict, detail, body?}>
//   checkToken(payload, verifierKeyText) -> Promise<{verdict, field?, detail, body?}>  never throws
//        for a bad code: payloadToken, decodeToken and verifyToken in one, what a scanner shows
//   isHandoverCode(text) -> boolean
//   decodeHandover(text) -> {event, canonical, canonicalBytes, key, keyBytes, sig, sigBytes, wire}
//        throws CodeError; `canonical` is the RFC 8785 JSON of the event, the bytes its
//        signature covers (after "wasteledger/v1/event\n"); key and sig in base64; wire is the
//        signed-event object to countersign (wl-sign.js) or submit
//   verifyHandover(decoded) -> Promise<{verdict: 'valid'|'bad_signature', detail}>
//   checkHandover(text) -> Promise<{verdict, field?, detail, decoded?}>  never throws for a bad code
//
// Signatures are checked with verifyStrict (wl-ed25519.js): exactly ed25519-dalek's
// `verify_strict`, which the server uses, and never looser than noble's strict mode
// (`zip215: false`): S below L, no small-order key or R, the cofactorless equation. So every
// browser, webview and the server reach the same verdict on the same code.

import { b32decode, b64encode, concatBytes, hexEncode, sha256, utf8Decode, utf8Encode, b64decode, equalBytes } from './wl-util.js';
import { canonicalize, parseCanonical, MAX_SAFE_INTEGER } from './wl-canon.js';
import { verifyStrict } from './wl-ed25519.js';
import { Point } from './vendor/noble-ed25519.js';
import { EVENT_CONTEXT } from './wl-sign.js';

export class CodeError extends Error {
  constructor(verdict, field, detail) {
    super(field ? `${field}: ${detail}` : detail);
    this.verdict = verdict;
    this.field = field;
    this.detail = detail;
  }
}

const malformed = (field, detail) => new CodeError('malformed', field, detail);

const TOKEN_PREFIX = 'WL';
const HANDOVER_PREFIX = 'WLH1';
const TOKEN_CONTEXT = 'wasteledger/v1/qr-token\n';
const FORMAT_VERSION = 1;
const MAX_NUMBER = 99999999999999n;
const MAX_CODE = 99999999;
const MAX_LINES = 16;
const MAX_STR = 64;
const USCC_ALPHABET = '0123456789ABCDEFGHJKLMNPQRTUWXY';
const USCC_WEIGHTS = [1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28];
const CW_TYPES = ['excavated_soil', 'slurry', 'site_waste', 'demolition', 'renovation'];
const U32_MAX = 0xffffffffn;
const MAX_UNIX_MILLIS = 253402300799999n; // 9999-12-31T23:59:59.999Z

const num = (v) => (v <= BigInt(MAX_SAFE_INTEGER) ? Number(v) : v);
const hex2 = (b) => '0x' + b.toString(16).padStart(2, '0');

class Reader {
  constructor(bytes) {
    this.bytes = bytes;
    this.at = 0;
  }
  take(n, field) {
    const left = this.bytes.length - this.at;
    if (left < n) throw malformed(field, `the token ends here (truncated): ${n} byte(s) needed, ${left} left`);
    const s = this.bytes.subarray(this.at, this.at + n);
    this.at += n;
    return s;
  }
  byte(field) {
    return this.take(1, field)[0];
  }
  /** Unsigned LEB128, minimally encoded, at most 10 bytes, within 64 bits (a BigInt). */
  uvarint(field) {
    let v = 0n;
    for (let i = 0; i < 10; i++) {
      const b = this.byte(field);
      if (i === 9 && b > 1) throw malformed(field, 'bad varint: it does not fit 64 bits');
      v |= BigInt(b & 0x7f) << BigInt(7 * i);
      if ((b & 0x80) === 0) {
        if (b === 0 && i > 0) throw malformed(field, 'bad varint: not minimally encoded (a trailing 0x00 group)');
        return v;
      }
    }
    throw malformed(field, 'bad varint');
  }
  uvarintU32(field) {
    const v = this.uvarint(field);
    if (v > U32_MAX) throw malformed(field, `expected at most ${U32_MAX}, got ${v}`);
    return Number(v);
  }
  str(field, max = MAX_STR) {
    const n = this.uvarint(`${field} length`);
    if (n > BigInt(max)) throw malformed(`${field} length`, `expected at most ${max} bytes, got ${n}`);
    const raw = this.take(Number(n), field);
    try {
      return utf8Decode(raw);
    } catch (e) {
      throw malformed(field, 'expected UTF-8 text');
    }
  }
  end() {
    if (this.at !== this.bytes.length) {
      throw malformed('signature', `${this.bytes.length - this.at} trailing byte(s) after the signature`);
    }
  }
}

function shorten(s) {
  const chars = [...s];
  return chars.length <= 80 ? s : chars.slice(0, 80).join('') + '…';
}

// ---------------------------------------------------------------------------------------------
// Codes of the domain (the checks of src/domain/codes.rs the token relies on)
// ---------------------------------------------------------------------------------------------

function usccProblem(s) {
  if (s.length !== 18) return `expected an 18-character Unified Social Credit Code; this has ${s.length} characters`;
  for (let i = 0; i < 18; i++) {
    if (!USCC_ALPHABET.includes(s[i])) {
      return `expected a Unified Social Credit Code using only digits and ${USCC_ALPHABET.slice(10)} (no I, O, S, V, Z); character ${i + 1} is ${JSON.stringify(s[i])}`;
    }
  }
  if (!/^[0-9]{6}$/.test(s.slice(2, 8))) return 'expected a Unified Social Credit Code whose characters 3 to 8 are digits';
  let sum = 0;
  for (let i = 0; i < 17; i++) sum += USCC_ALPHABET.indexOf(s[i]) * USCC_WEIGHTS[i];
  const check = USCC_ALPHABET[(31 - (sum % 31)) % 31];
  if (s[17] !== check) return `expected a Unified Social Credit Code whose check character is '${check}', got ${JSON.stringify(s)}`;
  return null;
}

function manifestNumber(n, field) {
  if (n > MAX_NUMBER) throw malformed(field, `expected a 14-digit manifest number, got ${n}`);
  const s = n.toString().padStart(14, '0');
  if (s.slice(8) === '000000') throw malformed(field, `expected a manifest number whose serial (last 6 digits) is not 000000, got ${s}`);
  return s;
}

function wasteCode(d, field) {
  if (d > MAX_CODE) throw malformed(field, `expected 8 decimal digits, got ${d}`);
  const s = String(d).padStart(8, '0');
  const cat = Number(s.slice(6));
  if (cat < 1 || cat > 50 || (cat >= 41 && cat <= 44)) {
    throw malformed(field, `expected a hazardous waste code whose last two digits are a category 01 to 50 (41 to 44 no longer exist), got ${s.slice(0, 3)}-${s.slice(3, 6)}-${s.slice(6)}`);
  }
  return `${s.slice(0, 3)}-${s.slice(3, 6)}-${s.slice(6)}`;
}

// ---------------------------------------------------------------------------------------------
// Manifest and container tokens
// ---------------------------------------------------------------------------------------------

export function payloadToken(payload) {
  const p = String(payload).trim();
  const noSuffix = p.split(/[?#]/)[0];
  const last = noSuffix.replace(/\/+$/, '').split('/').pop();
  const isToken = (s) => s.length > TOKEN_PREFIX.length && s.startsWith(TOKEN_PREFIX) && /^[A-Z2-7]+$/.test(s.slice(TOKEN_PREFIX.length));
  if (isToken(last) && (last.length === p.length || noSuffix.includes('/'))) return last;
  throw malformed(
    'payload',
    `expected a token (WL followed by upper-case base32) or a URL whose last path segment is one, such as https://host/m/WL…, got ${JSON.stringify(shorten(p))}`,
  );
}

function base32After(text, prefix, what) {
  if (typeof text !== 'string' || !text.startsWith(prefix)) {
    throw malformed('text', `expected ${what} starting with ${JSON.stringify(prefix)}, got ${JSON.stringify(shorten(String(text)))}`);
  }
  try {
    return b32decode(text.slice(prefix.length));
  } catch (e) {
    throw malformed('text', `expected unpadded upper-case RFC 4648 base32 after ${JSON.stringify(prefix)} (${e.message})`);
  }
}

export function decodeToken(text) {
  const bin = base32After(text, TOKEN_PREFIX, 'a token');
  const r = new Reader(bin);
  const version = r.byte('version');
  if (version !== FORMAT_VERSION) {
    throw new CodeError('unknown_version', 'version', `format version ${version} is not supported (this reader supports version ${FORMAT_VERSION})`);
  }
  const kindByte = r.byte('kind');
  if (kindByte !== 0x4d && kindByte !== 0x43) throw malformed('kind', `expected 'M' (manifest) or 'C' (container), got ${hex2(kindByte)}`);
  const number = manifestNumber(r.uvarint('number'), 'number');
  const mversion = r.uvarintU32('manifest version');
  if (mversion === 0) throw malformed('manifest version', 'expected a version from 1, got 0');
  const sb = r.byte('stream');
  const stream = sb === 0x48 ? 'hazardous' : sb === 0x43 ? 'construction' : null;
  if (!stream) throw malformed('stream', `expected 'H' (hazardous) or 'C' (construction), got ${hex2(sb)}`);
  const issueIndex = r.uvarint('issue index');
  const issuedAt = r.uvarint('issue time');
  const raw = r.take(18, 'generator');
  if (raw.some((b) => b > 0x7f)) throw malformed('generator', 'expected 18 ASCII characters');
  const generator = String.fromCharCode(...raw);
  const gp = usccProblem(generator);
  if (gp) throw malformed('generator', gp);
  const destination = r.str('destination');
  const count = r.uvarint('line count');
  if (count === 0n || count > BigInt(MAX_LINES)) throw malformed('line count', `expected 1 to ${MAX_LINES}, got ${count}`);
  const lines = [];
  for (let i = 0; i < Number(count); i++) {
    const kb = r.byte(`line ${i} kind`);
    const line = {};
    if (kb === 0x57) {
      const f = `line ${i} code`;
      const d = r.take(4, f);
      line.code = wasteCode(((d[0] << 24) >>> 0) + (d[1] << 16) + (d[2] << 8) + d[3], f);
    } else if (kb === 0x54) {
      const f = `line ${i} type`;
      const b = r.byte(f);
      if (b >= CW_TYPES.length) throw malformed(f, `expected 0 to 4 (excavated_soil, slurry, site_waste, demolition, renovation), got ${hex2(b)}`);
      line.cw_type = CW_TYPES[b];
    } else {
      throw malformed(`line ${i} kind`, `expected 'W' (waste code) or 'T' (construction-waste type), got ${hex2(kb)}`);
    }
    if (stream === 'hazardous' && line.cw_type) {
      throw malformed(`line ${i} kind`, "a hazardous-stream token carries waste codes ('W'), got a construction-waste type ('T')");
    }
    if (stream === 'construction' && line.code) {
      throw malformed(`line ${i} kind`, "a construction-stream token carries construction-waste types ('T'), got a waste code ('W')");
    }
    const amount = r.uvarint(`line ${i} amount`);
    const ub = r.byte(`line ${i} unit`);
    const unit = ub === 0x67 ? 'g' : ub === 0x6d ? 'ml' : null;
    if (!unit) throw malformed(`line ${i} unit`, `expected 'g' or 'm', got ${hex2(ub)}`);
    line.quantity = { amount: num(amount), unit };
    lines.push(line);
  }
  let kind = { type: 'manifest' };
  if (kindByte === 0x43) {
    const line = r.uvarintU32('container line');
    if (BigInt(line) >= count) throw malformed('container line', `expected a line index below ${count}, got ${line}`);
    kind = { type: 'container', line, id: r.str('container id') };
  }
  const bodyBytes = bin.slice(0, r.at);
  const keyId = r.take(4, 'key id').slice();
  const signature = r.take(64, 'signature').slice();
  r.end();
  return {
    body: {
      kind,
      number,
      version: mversion,
      stream,
      issue_index: num(issueIndex),
      issued_at_s: num(issuedAt),
      generator,
      destination,
      lines,
    },
    bodyBytes,
    keyId,
    keyIdHex: hexEncode(keyId),
    signature,
  };
}

export async function parseVerifierKey(text) {
  const s = String(text).trimEnd();
  const i = s.indexOf('+');
  const j = i < 0 ? -1 : s.indexOf('+', i + 1);
  if (j < 0) throw new Error('verifier key: it does not have three \'+\'-separated parts (<name>+<key id>+<key>)');
  const name = s.slice(0, i);
  const idHex = s.slice(i + 1, j);
  if (!/^[0-9a-fA-F]{8}$/.test(idHex)) throw new Error('verifier key: the key id is not 8 hex digits');
  let raw;
  try {
    raw = b64decode(s.slice(j + 1));
  } catch (e) {
    throw new Error('verifier key: the key is not base64');
  }
  if (raw.length !== 33 || raw[0] !== 0x01) throw new Error('verifier key: the key is not 0x01 followed by 32 bytes (Ed25519)');
  const key = raw.slice(1);
  try {
    Point.fromBytes(key, true);
  } catch (e) {
    throw new Error('verifier key: the key is not a valid Ed25519 point');
  }
  if (!name || /[\s+]/u.test(name) || /\p{Cc}/u.test(name)) {
    throw new Error(`verifier key: name ${JSON.stringify(name)} is empty or has '+' or spaces`);
  }
  const keyId = (await sha256(concatBytes(utf8Encode(name + '\n'), raw))).slice(0, 4);
  if (hexEncode(keyId) !== idHex.toLowerCase()) throw new Error('verifier key: the key id does not match the name and key');
  return { name, keyId, keyIdHex: hexEncode(keyId), key };
}

export async function verifyToken(decoded, verifierKeyText) {
  const d = typeof decoded === 'string' ? decodeToken(decoded) : decoded;
  const log = await parseVerifierKey(verifierKeyText);
  if (!equalBytes(d.keyId, log.keyId)) {
    return {
      verdict: 'other_log',
      detail: `signed by key id ${d.keyIdHex}, not by the log ${log.name}'s key id ${log.keyIdHex}: a token of another log, or not of a log at all`,
    };
  }
  const ok = await verifyStrict(log.key, concatBytes(utf8Encode(TOKEN_CONTEXT), d.bodyBytes), d.signature);
  if (!ok) {
    return { verdict: 'bad_signature', detail: `the signature does not verify under the log ${log.name}'s key: the token is forged or altered` };
  }
  return { verdict: 'valid', detail: `signed by the log ${log.name}`, body: d.body };
}

function verdictOf(e) {
  if (e instanceof CodeError) return { verdict: e.verdict, field: e.field, detail: e.message };
  throw e;
}

export async function checkToken(payload, verifierKeyText) {
  let d;
  try {
    d = decodeToken(payloadToken(payload));
  } catch (e) {
    return verdictOf(e);
  }
  return verifyToken(d, verifierKeyText);
}

// ---------------------------------------------------------------------------------------------
// Hand-over codes
// ---------------------------------------------------------------------------------------------

const F_VEHICLE = 1;
const F_DRIVER_HEX = 2;
const F_DRIVER_STR = 4;
const F_DRIVER_ID = F_DRIVER_HEX | F_DRIVER_STR;
const F_SITE = 8;
const F_PLACE = 16;
const F_AT_SECONDS = 32;
const F_AT_MILLIS = 64;
const F_REST = 128;
const MAX_REST = 512;
const MAX_HANDOVER_LINES = 64;

export function isHandoverCode(text) {
  return String(text).trim().startsWith(HANDOVER_PREFIX);
}

function unpackUscc(b) {
  let acc = 0n;
  for (const x of b) acc = (acc << 8n) | BigInt(x);
  if ((acc & 0x3fn) !== 0n) return null;
  acc >>= 6n;
  let s = '';
  for (let i = 17; i >= 0; i--) {
    const v = Number((acc >> BigInt(5 * i)) & 0x1fn);
    if (v >= USCC_ALPHABET.length) return null;
    s += USCC_ALPHABET[v];
  }
  return s;
}

function unzigzag(v) {
  return (v >> 1n) ^ -(v & 1n);
}

function renderAt(ms, withMillis) {
  const iso = new Date(Number(ms)).toISOString();
  return withMillis ? iso : iso.slice(0, 19) + 'Z';
}

const isCommitment = (s) => /^[0-9a-f]{64}$/.test(s);

export function decodeHandover(text) {
  const bin = base32After(String(text).trim(), HANDOVER_PREFIX, 'a hand-over code');
  const r = new Reader(bin);
  const flags = r.byte('flags');
  if (flags & F_AT_SECONDS && flags & F_AT_MILLIS) {
    throw malformed('flags', 'the time is either in seconds or in milliseconds, not both');
  }
  const ev = { type: 'custody.handover' };
  const n = r.uvarint('manifest');
  if (n > MAX_NUMBER) throw malformed('manifest', `expected a 14-digit manifest number, got ${n}`);
  ev.manifest = n.toString().padStart(14, '0');
  for (const k of ['from', 'to']) {
    const u = unpackUscc(r.take(12, k));
    if (u === null) throw malformed(k, 'expected 18 characters of the USCC alphabet (5 bits each, values below 31) and 6 zero bits');
    ev[k] = u;
  }
  if (flags & F_AT_SECONDS) {
    const s = r.uvarint('at');
    if (s * 1000n > MAX_UNIX_MILLIS) throw malformed('at', `${s} is after 9999-12-31T23:59:59.999Z`);
    ev.at = renderAt(s * 1000n, false);
  } else if (flags & F_AT_MILLIS) {
    const ms = r.uvarint('at');
    if (ms > MAX_UNIX_MILLIS) throw malformed('at', `${ms} is after 9999-12-31T23:59:59.999Z`);
    ev.at = renderAt(ms, true);
  }
  const count = r.uvarint('line count');
  if (count > BigInt(MAX_HANDOVER_LINES)) throw malformed('line count', `expected at most ${MAX_HANDOVER_LINES}, got ${count}`);
  const lines = [];
  const big = [];
  for (let i = 0; i < Number(count); i++) {
    const line = r.uvarint(`line ${i} number`);
    const amount = r.uvarint(`line ${i} amount`);
    const ub = r.byte(`line ${i} unit`);
    const unit = ub === 0x67 ? 'g' : ub === 0x6d ? 'ml' : null;
    if (!unit) throw malformed(`line ${i} unit`, `expected 'g' or 'm', got ${hex2(ub)}`);
    if (line > BigInt(MAX_SAFE_INTEGER)) big.push([`event.lines[${i}].line`, line]);
    if (amount > BigInt(MAX_SAFE_INTEGER)) big.push([`event.lines[${i}].quantity.amount`, amount]);
    lines.push({ line: num(line), quantity: { amount: num(amount), unit } });
  }
  ev.lines = lines;
  if (flags & F_VEHICLE) ev.vehicle = r.str('vehicle');
  if ((flags & F_DRIVER_ID) === F_DRIVER_ID) {
    ev.driver_id = hexEncode(r.take(32, 'driver_id'));
  } else if (flags & F_DRIVER_HEX) {
    ev.driver = hexEncode(r.take(32, 'driver'));
  } else if (flags & F_DRIVER_STR) {
    const d = r.str('driver');
    if (isCommitment(d)) throw malformed('driver', 'a commitment (64 hex digits) is coded as 32 bytes, not as a string');
    ev.driver = d;
  }
  if (flags & F_SITE) ev.site = r.str('site');
  if (flags & F_PLACE) {
    const e6 = (f) => {
      const v = unzigzag(r.uvarint(f));
      if (v < -2147483648n || v > 2147483647n) throw malformed(f, `expected a 32-bit value, got ${v}`);
      return Number(v);
    };
    const lat = e6('place lat_e6');
    const lon = e6('place lon_e6');
    ev.place = { lat_e6: lat, lon_e6: lon };
  }
  if (flags & F_REST) {
    const len = r.uvarint('rest length');
    if (len > BigInt(MAX_REST)) throw malformed('rest length', `expected at most ${MAX_REST} bytes, got ${len}`);
    const raw = r.take(Number(len), 'rest');
    let more;
    try {
      more = parseCanonical(raw);
    } catch (e) {
      more = null;
    }
    if (!more || typeof more !== 'object' || Array.isArray(more)) {
      throw malformed('rest', 'expected a JSON object in canonical form (RFC 8785)');
    }
    const keys = Object.keys(more);
    if (!keys.length) throw malformed('rest', 'expected at least one field (an empty rest is left out)');
    for (const k of keys) {
      if (Object.prototype.hasOwnProperty.call(ev, k)) throw malformed('rest', `field ${JSON.stringify(k)} is in the binary part already`);
      ev[k] = more[k];
    }
  }
  const keyBytes = r.take(32, 'public key').slice();
  const sigBytes = r.take(64, 'signature').slice();
  r.end();
  if (big.length) {
    const [field, v] = big[0];
    throw malformed('event', `field \`${field}\`: numbers must be integers between -(2^53-1) and 2^53-1, got ${v}`);
  }
  try {
    Point.fromBytes(keyBytes, true);
  } catch (e) {
    throw malformed('public key', 'expected an Ed25519 public key (a curve point)');
  }
  let canonical;
  try {
    canonical = canonicalize(ev);
  } catch (e) {
    throw malformed('event', e.message);
  }
  const key = b64encode(keyBytes);
  const sig = b64encode(sigBytes);
  return {
    event: ev,
    canonical,
    canonicalBytes: utf8Encode(canonical),
    key,
    keyBytes,
    sig,
    sigBytes,
    wire: { event: ev, signatures: [{ key, sig }] },
  };
}

export async function verifyHandover(decoded) {
  const msg = concatBytes(utf8Encode(EVENT_CONTEXT), decoded.canonicalBytes);
  if (await verifyStrict(decoded.keyBytes, msg, decoded.sigBytes)) {
    return { verdict: 'valid', detail: `signed by ${decoded.key}` };
  }
  return { verdict: 'bad_signature', detail: `the signature by key ${decoded.key} does not verify over this hand-over: it was altered or damaged` };
}

export async function checkHandover(text) {
  let decoded;
  try {
    decoded = decodeHandover(text);
  } catch (e) {
    return verdictOf(e);
  }
  return { ...(await verifyHandover(decoded)), decoded };
}
