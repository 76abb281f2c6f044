// wl-sign.js: signing events and requests with this device's key (wl-keys.js), in exactly the
// forms the server checks (src/ledger/event.rs, src/http/auth.rs).
//
// Event wire form (what POST /v1/events takes), RFC 8785 canonical:
//   {"event":{…},"signatures":[{"key":"<base64 public key>","sig":"<base64 signature>"}]}
// each signature Ed25519 over "wasteledger/v1/event\n" ‖ the canonical bytes of the event.
//
// Exports (async where they sign; `slot` as in wl-keys.js, default 'device'):
//   EVENT_CONTEXT                      'wasteledger/v1/event\n'
//   signEvent(event, {slot}) -> wire   a new wire object {event, signatures: [this device's]}
//   countersign(wire, {slot}) -> wire  adds this device's signature to a half signed by another
//                                      party (wire object or its JSON text). The existing
//                                      signatures are checked first (strict, as the server does):
//                                      a half that does not verify is refused, not signed. A
//                                      signature already there by this key is replaced.
//   wireText(wire) -> string           the canonical JSON to POST (wireBytes: its UTF-8 bytes)
//   verifyWire(wire) -> {ok, bad: [index…]}   every signature checked with verifyStrict
//   eventSigningMessage(event) -> Uint8Array  context ‖ canonical event bytes
//   authHeader(method, pathAndQuery, bodyBytes, {slot, now}) -> 'WL-Ed25519 key=…,time=…,nonce=…,sig=…'
//        the Authorization header value: time is RFC 3339 UTC with milliseconds as the server's
//        Timestamp prints it (2026-12-03T06:30:00.123Z), nonce 16 random bytes in base64, the
//        signature over "wasteledger/v1/request\n" METHOD "\n" path-and-query "\n" time "\n"
//        nonce "\n" hex(SHA-256(body)) (an empty body for GET). The server takes it within 300 s
//        of its clock, once.
//   requestMessage(method, pathAndQuery, time, nonce, bodyBytes) -> Uint8Array  that message

import { canonicalize, canonicalBytes, parseCanonical } from './wl-canon.js';
import { b64encode, b64decode, concatBytes, hexEncode, randomBytes, sha256, utf8Encode, equalBytes } from './wl-util.js';
import * as keys from './wl-keys.js';
import { verifyStrict } from './wl-ed25519.js';

export const EVENT_CONTEXT = 'wasteledger/v1/event\n';
export const REQUEST_CONTEXT = 'wasteledger/v1/request\n';

function checkEvent(event) {
  if (event === null || typeof event !== 'object' || Array.isArray(event)) {
    throw new Error('field `event`: expected a JSON object');
  }
  if (typeof event.type !== 'string' || !event.type) throw new Error('field `event.type`: expected the event type (a string)');
}

export function eventSigningMessage(event) {
  checkEvent(event);
  return concatBytes(utf8Encode(EVENT_CONTEXT), canonicalBytes(event));
}

function asWire(wire) {
  const w = typeof wire === 'string' || wire instanceof Uint8Array ? JSON.parse(typeof wire === 'string' ? wire : new TextDecoder().decode(wire)) : wire;
  if (!w || typeof w !== 'object' || !w.event || !Array.isArray(w.signatures)) {
    throw new Error('expected a signed event {"event": {…}, "signatures": [{"key", "sig"}…]}');
  }
  return w;
}

export async function signEvent(event, { slot } = {}) {
  const msg = eventSigningMessage(event);
  const pub = await keys.publicKey(slot);
  if (!pub) throw new Error(`key slot ${JSON.stringify(slot || keys.DEFAULT_SLOT)} is empty: generate or import a key first`);
  const sig = await keys.sign(msg, slot);
  // A copy through the canonical form: what is returned is exactly what was signed.
  return { event: parseCanonical(canonicalize(event)), signatures: [{ key: pub.b64, sig: b64encode(sig) }] };
}

export async function verifyWire(wire) {
  const w = asWire(wire);
  const msg = eventSigningMessage(w.event);
  const bad = [];
  for (let i = 0; i < w.signatures.length; i++) {
    const s = w.signatures[i];
    let ok = false;
    try {
      ok = await verifyStrict(b64decode(s.key), msg, b64decode(s.sig));
    } catch (e) {
      ok = false;
    }
    if (!ok) bad.push(i);
  }
  return { ok: bad.length === 0 && w.signatures.length > 0, bad };
}

export async function countersign(wire, { slot } = {}) {
  const w = asWire(wire);
  const check = await verifyWire(w);
  if (check.bad.length) {
    throw new Error(`signatures[${check.bad[0]}]: the signature does not verify over this event; it was altered or damaged, do not countersign`);
  }
  const pub = await keys.publicKey(slot);
  if (!pub) throw new Error(`key slot ${JSON.stringify(slot || keys.DEFAULT_SLOT)} is empty: generate or import a key first`);
  const sig = await keys.sign(eventSigningMessage(w.event), slot);
  const others = w.signatures.filter((s) => !equalBytes(b64decode(s.key), pub.bytes));
  return {
    event: parseCanonical(canonicalize(w.event)),
    signatures: [...others.map((s) => ({ key: s.key, sig: s.sig })), { key: pub.b64, sig: b64encode(sig) }],
  };
}

export function wireText(wire) {
  const w = asWire(wire);
  return canonicalize({ event: w.event, signatures: w.signatures.map((s) => ({ key: s.key, sig: s.sig })) });
}

export function wireBytes(wire) {
  return utf8Encode(wireText(wire));
}

export async function requestMessage(method, pathAndQuery, time, nonce, bodyBytes) {
  const body = bodyBytes == null ? new Uint8Array(0) : typeof bodyBytes === 'string' ? utf8Encode(bodyBytes) : bodyBytes;
  const h = hexEncode(await sha256(body));
  return utf8Encode(`${REQUEST_CONTEXT}${method}\n${pathAndQuery}\n${time}\n${nonce}\n${h}`);
}

export async function authHeader(method, pathAndQuery, bodyBytes, { slot, now } = {}) {
  const pub = await keys.publicKey(slot);
  if (!pub) throw new Error(`key slot ${JSON.stringify(slot || keys.DEFAULT_SLOT)} is empty: generate or import a key first`);
  const time = (now instanceof Date ? now : new Date(now ?? Date.now())).toISOString();
  const nonce = b64encode(randomBytes(16));
  const sig = await keys.sign(await requestMessage(method, pathAndQuery, time, nonce, bodyBytes), slot);
  return `WL-Ed25519 key=${pub.b64},time=${time},nonce=${nonce},sig=${b64encode(sig)}`;
}
