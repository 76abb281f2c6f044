// wl-keys.js: this device's Ed25519 keys, kept in IndexedDB (db `wasteledger`, store `keys`).
// The private key never leaves the device: it is not shown, exported or sent anywhere.
//
// Keys live in named slots: 'device' (the default: a phone's own key, generated here) and any
// other name, e.g. 'party' for the key file a clerk imports. Each slot uses one engine:
//   'webcrypto'  WebCrypto Ed25519. The private key is a non-extractable CryptoKey stored in
//                IndexedDB as it is: no script, this app's included, can read its bytes.
//   'noble'      the fallback for browsers without WebCrypto Ed25519 (older WeChat and Android
//                webviews): vendor/noble-ed25519.js, the 32-byte seed stored in IndexedDB (readable
//                by scripts of this origin; the page says so through engine()).
// Forcing the fallback (tests, or a webview whose WebCrypto misbehaves): `localStorage.wl_engine =
// 'noble'`, or the `engine` option of generate/importPkcs8.
//
// Exports (all async; `slot` defaults to 'device'):
//   generate({slot, engine, replace}) -> info   a new key; refuses an occupied slot unless replace
//   importPkcs8(pemOrDer, {slot, engine, replace}) -> info
//        an Ed25519 private key file as src/keyfile.rs writes it (PKCS#8 v1 PEM, RFC 8410; v2 with
//        the public key is read too and the public key checked). Under WebCrypto the key is
//        imported non-extractable and the seed bytes are zeroed; the public key is derived from
//        the seed with noble first.
//   engine(slot) -> 'webcrypto' | 'noble'      the slot's engine, or the one generate() would use
//   webcryptoAvailable() -> boolean            whether this browser has WebCrypto Ed25519
//   info(slot) -> {slot, engine, source: 'generated'|'imported', created, publicKey, publicKeyB64,
//                  fingerprint} | null
//   publicKey(slot) -> {bytes: Uint8Array(32), b64} | null
//   fingerprint(slot) -> 'xxxx-xxxx-xxxx-xxxx' | null
//   fingerprintOf(publicKeyBytes) -> the same from a key: first 8 bytes of SHA-256(key), hex in 4
//        groups, for people to compare a key by eye or over the phone
//   sign(bytes, slot) -> Uint8Array(64)         throws if the slot is empty
//   forget(slot)                                the slot's key is deleted for good
//   slots() -> [slot names]

import { tx } from './wl-db.js';
import { b64encode, b64decode, hexEncode, sha256, randomBytes, equalBytes } from './wl-util.js';
import { publicFromSeed, signWithSeed } from './wl-ed25519.js';

const STORE = 'keys';
export const DEFAULT_SLOT = 'device';

let wcAvailable = null;

/** Whether WebCrypto Ed25519 works here (generating a throwaway key is the only sure test). */
export function webcryptoAvailable() {
  if (!wcAvailable) {
    wcAvailable = (async () => {
      try {
        if (!globalThis.crypto || !crypto.subtle) return false;
        const k = await crypto.subtle.generateKey({ name: 'Ed25519' }, false, ['sign', 'verify']);
        const sig = await crypto.subtle.sign({ name: 'Ed25519' }, k.privateKey, new Uint8Array(1));
        return new Uint8Array(sig).length === 64;
      } catch (e) {
        return false;
      }
    })();
  }
  return wcAvailable;
}

function forcedEngine() {
  try {
    return globalThis.localStorage ? localStorage.getItem('wl_engine') : null;
  } catch (e) {
    return null; // storage blocked
  }
}

async function chooseEngine(asked) {
  const want = asked || forcedEngine() || null;
  if (want === 'noble') return 'noble';
  const wc = await webcryptoAvailable();
  if (want === 'webcrypto' && !wc) throw new Error('engine: WebCrypto Ed25519 was asked for but this browser does not have it');
  if (want && want !== 'webcrypto') throw new Error(`engine: expected 'webcrypto' or 'noble', got ${JSON.stringify(want)}`);
  return wc ? 'webcrypto' : 'noble';
}

function load(slot) {
  return tx(STORE, 'readonly', (s) => s.get(slot));
}

async function store(rec, replace) {
  return tx(STORE, 'readwrite', (s) => (replace ? s.put(rec) : s.add(rec))).catch((e) => {
    if (e && e.name === 'ConstraintError') {
      throw new Error(`key slot ${JSON.stringify(rec.slot)} holds a key already; forget it first or pass replace: true`);
    }
    throw e;
  });
}

async function occupied(slot, replace) {
  if (!replace && (await load(slot))) {
    throw new Error(`key slot ${JSON.stringify(slot)} holds a key already; forget it first or pass replace: true`);
  }
}

export async function generate({ slot = DEFAULT_SLOT, engine: asked, replace = false } = {}) {
  await occupied(slot, replace);
  const engine = await chooseEngine(asked);
  let rec;
  if (engine === 'webcrypto') {
    const k = await crypto.subtle.generateKey({ name: 'Ed25519' }, false, ['sign', 'verify']);
    const pub = new Uint8Array(await crypto.subtle.exportKey('raw', k.publicKey));
    rec = { slot, engine, privateKey: k.privateKey, publicKey: pub };
  } else {
    const seed = randomBytes(32);
    rec = { slot, engine, seed, publicKey: await publicFromSeed(seed) };
  }
  rec.source = 'generated';
  rec.created = new Date().toISOString();
  await store(rec, replace);
  return info(slot);
}

// --- PKCS#8 -------------------------------------------------------------------------------

const ED25519_OID = [0x06, 0x03, 0x2b, 0x65, 0x70];
const V1_PREFIX = [0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, ...ED25519_OID, 0x04, 0x22, 0x04, 0x20];

function derBytes(pemOrDer) {
  if (typeof pemOrDer !== 'string') {
    if (pemOrDer instanceof ArrayBuffer) return new Uint8Array(pemOrDer);
    if (pemOrDer instanceof Uint8Array) return pemOrDer;
    throw new Error('key file: expected PEM text or DER bytes');
  }
  const m = /-----BEGIN PRIVATE KEY-----([\s\S]*?)-----END PRIVATE KEY-----/.exec(pemOrDer);
  if (!m) {
    throw new Error('key file: expected an Ed25519 private key in PKCS#8 PEM (-----BEGIN PRIVATE KEY-----), as `wasteledger keygen` writes');
  }
  try {
    return b64decode(m[1].replace(/\s+/g, ''));
  } catch (e) {
    throw new Error(`key file: the PEM body is not base64 (${e.message})`);
  }
}

// One DER TLV at `at`: {tag, start (of content), end}.
function tlv(b, at, what) {
  const bad = () => new Error(`key file: ${what}: not the DER of an Ed25519 PKCS#8 key`);
  if (at + 2 > b.length) throw bad();
  const tag = b[at];
  let len = b[at + 1];
  let start = at + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n < 1 || n > 2 || start + n > b.length) throw bad();
    len = 0;
    for (let i = 0; i < n; i++) len = (len << 8) | b[start + i];
    start += n;
  }
  if (start + len > b.length) throw bad();
  return { tag, start, end: start + len };
}

/** The 32-byte seed and, for PKCS#8 v2, the public key the file states. */
function parsePkcs8(der) {
  const top = tlv(der, 0, 'PrivateKeyInfo');
  if (top.tag !== 0x30 || top.end !== der.length) throw new Error('key file: expected one DER SEQUENCE (PrivateKeyInfo)');
  const ver = tlv(der, top.start, 'version');
  if (ver.tag !== 0x02 || ver.end - ver.start !== 1 || der[ver.start] > 1) {
    throw new Error('key file: expected PKCS#8 version 0 or 1');
  }
  const alg = tlv(der, ver.end, 'algorithm');
  const oid = der.subarray(alg.start, alg.end);
  if (alg.tag !== 0x30 || !equalBytes(oid, Uint8Array.from(ED25519_OID))) {
    throw new Error('key file: the algorithm is not Ed25519 (OID 1.3.101.112); wasteledger keys are Ed25519');
  }
  const outer = tlv(der, alg.end, 'privateKey');
  const inner = outer.tag === 0x04 ? tlv(der, outer.start, 'CurvePrivateKey') : null;
  if (!inner || inner.tag !== 0x04 || inner.end !== outer.end || inner.end - inner.start !== 32) {
    throw new Error('key file: expected a 32-byte Ed25519 private key (RFC 8410 CurvePrivateKey)');
  }
  const seed = der.slice(inner.start, inner.end);
  let at = outer.end;
  let statedPublic = null;
  while (at < top.end) {
    const f = tlv(der, at, 'optional field');
    if (f.tag === 0x81) {
      if (f.end - f.start !== 33 || der[f.start] !== 0) throw new Error('key file: the public key field is not 32 bytes');
      statedPublic = der.slice(f.start + 1, f.end);
    } else if (f.tag !== 0xa0) {
      throw new Error(`key file: unexpected DER field 0x${f.tag.toString(16)}`);
    }
    at = f.end;
  }
  return { seed, statedPublic };
}

export async function importPkcs8(pemOrDer, { slot = DEFAULT_SLOT, engine: asked, replace = false } = {}) {
  const der = derBytes(pemOrDer);
  const { seed, statedPublic } = parsePkcs8(der);
  try {
    await occupied(slot, replace);
    const engine = await chooseEngine(asked);
    const publicKey = await publicFromSeed(seed);
    if (statedPublic && !equalBytes(statedPublic, publicKey)) {
      throw new Error('key file: the public key in the file does not belong to its private key');
    }
    let rec;
    if (engine === 'webcrypto') {
      // A v1 encoding of the seed (what every WebCrypto takes), imported non-extractable.
      const v1 = new Uint8Array(48);
      v1.set(V1_PREFIX);
      v1.set(seed, 16);
      try {
        const privateKey = await crypto.subtle.importKey('pkcs8', v1, { name: 'Ed25519' }, false, ['sign']);
        rec = { slot, engine, privateKey, publicKey };
      } finally {
        v1.fill(0);
      }
    } else {
      rec = { slot, engine, seed: seed.slice(), publicKey };
    }
    rec.source = 'imported';
    rec.created = new Date().toISOString();
    await store(rec, replace);
    return info(slot);
  } finally {
    seed.fill(0);
    if (der instanceof Uint8Array && typeof pemOrDer === 'string') der.fill(0);
  }
}

// --- reading and using a slot ----------------------------------------------------------------

export async function engine(slot = DEFAULT_SLOT) {
  const rec = await load(slot);
  return rec ? rec.engine : chooseEngine();
}

export async function fingerprintOf(publicKeyBytes) {
  const h = hexEncode((await sha256(publicKeyBytes)).subarray(0, 8));
  return h.match(/.{4}/g).join('-');
}

export async function info(slot = DEFAULT_SLOT) {
  const rec = await load(slot);
  if (!rec) return null;
  return {
    slot,
    engine: rec.engine,
    source: rec.source,
    created: rec.created,
    publicKey: rec.publicKey,
    publicKeyB64: b64encode(rec.publicKey),
    fingerprint: await fingerprintOf(rec.publicKey),
  };
}

export async function publicKey(slot = DEFAULT_SLOT) {
  const rec = await load(slot);
  return rec ? { bytes: rec.publicKey, b64: b64encode(rec.publicKey) } : null;
}

export async function fingerprint(slot = DEFAULT_SLOT) {
  const rec = await load(slot);
  return rec ? fingerprintOf(rec.publicKey) : null;
}

export async function sign(bytes, slot = DEFAULT_SLOT) {
  const rec = await load(slot);
  if (!rec) throw new Error(`key slot ${JSON.stringify(slot)} is empty: generate or import a key first`);
  if (rec.engine === 'webcrypto') {
    return new Uint8Array(await crypto.subtle.sign({ name: 'Ed25519' }, rec.privateKey, bytes));
  }
  return signWithSeed(rec.seed, bytes);
}

export async function forget(slot = DEFAULT_SLOT) {
  await tx(STORE, 'readwrite', (s) => s.delete(slot));
}

export async function slots() {
  return tx(STORE, 'readonly', (s) => s.getAllKeys());
}
