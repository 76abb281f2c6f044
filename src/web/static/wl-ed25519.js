// wl-ed25519.js: Ed25519 in JavaScript (vendored @noble/ed25519 3.2.0), for the key fallback and
// for verifying signatures the same way the server does.
//
// SHA-512 is WebCrypto's (noble's asynchronous functions use crypto.subtle by default), so only
// the async API is used and @noble/hashes is not needed.
//
// Exports:
//   publicFromSeed(seed32) -> Promise<Uint8Array(32)>       RFC 8032 public key of a 32-byte seed
//   signWithSeed(seed32, message) -> Promise<Uint8Array(64)>
//   verifyStrict(publicKey32, message, signature64) -> Promise<boolean>
//
// verifyStrict decides exactly as ed25519-dalek's `verify_strict`, which the server uses for
// events, signed requests and QR tokens, so a browser, a phone webview and the server never
// disagree on a signature:
//   - S must be below the group order L (non-canonical S refused);
//   - the public key A and R are decoded as dalek decodes them (noble's `Point.fromBytes(b, true)`:
//     a y at or above p is reduced, as curve25519-dalek does), and a small-order A or R is refused;
//   - R' = [S]B − [k]A with k = SHA-512(R ‖ A ‖ M) mod L (the bytes as given), and the signature
//     holds only if R' encodes to exactly the 32 bytes of R (cofactorless check).
// noble's own `verify(…, {zip215: false})` is RFC 8032 strict on encodings and refuses small-order
// keys, but checks the cofactored equation and lets a small-order R through: for signatures built
// with torsion components it can say yes where verify_strict says no. On every honestly made
// signature both agree; verifyStrict also requires noble's strict verify to accept, so it is never
// looser than either.

import * as ed from './vendor/noble-ed25519.js';
import { concatBytes, equalBytes } from './wl-util.js';

const L = 2n ** 252n + 27742317777372353535851937790883648493n;

function le(bytes) {
  let n = 0n;
  for (let i = bytes.length - 1; i >= 0; i--) n = (n << 8n) | BigInt(bytes[i]);
  return n;
}

export async function publicFromSeed(seed) {
  return ed.getPublicKeyAsync(seed);
}

export async function signWithSeed(seed, message) {
  return ed.signAsync(message, seed);
}

export async function verifyStrict(publicKey, message, signature) {
  if (!(publicKey instanceof Uint8Array) || publicKey.length !== 32) return false;
  if (!(signature instanceof Uint8Array) || signature.length !== 64) return false;
  const rBytes = signature.subarray(0, 32);
  const s = le(signature.subarray(32));
  if (s >= L) return false;
  let A, R;
  try {
    A = ed.Point.fromBytes(publicKey, true);
    R = ed.Point.fromBytes(rBytes, true);
  } catch (e) {
    return false;
  }
  if (A.isSmallOrder() || R.isSmallOrder()) return false;
  const h = new Uint8Array(await crypto.subtle.digest('SHA-512', concatBytes(rBytes, publicKey, message)));
  const k = le(h) % L;
  const sB = ed.Point.BASE.multiply(s, false);
  const kA = A.multiply(k, false);
  const r2 = sB.subtract(kA);
  if (!equalBytes(r2.toBytes(), rBytes)) return false;
  try {
    return await ed.verifyAsync(signature, message, publicKey, { zip215: false });
  } catch (e) {
    return false;
  }
}
