// wl-tlog.js: what an independent verifier of the log needs, in the browser: RFC 9162 Merkle
// hashes and proofs, C2SP signed-note checkpoints signed by the log, and C2SP tlog-cosignature
// witness cosignatures with a k-of-n rule. The reference is the server's own code
// (src/ledger/merkle.rs, src/ledger/note.rs, src/ledger/cosignature.rs); tests/it/console_timeline.rs
// runs this module in Chromium against what the Rust code makes, accepted and altered.
//
// Formats (exactly the server's):
//   entry bytes      GET /v1/log/entries/{i}: the canonical JSON of one entry; leaf hash =
//                    SHA-256(0x00 ‖ bytes), node hash = SHA-256(0x01 ‖ left ‖ right)
//   inclusion proof  GET /v1/log/proof/inclusion?index=i&size=n → {index, size, leaf_hash, hashes: [base64…]}
//   consistency      GET /v1/log/proof/consistency?from=m&to=n → {from, to, hashes: [base64…]}
//   checkpoint       GET /v1/log/checkpoint: `<origin>\n<size>\n<base64 root>\n` + `\n` + signature
//                    lines `— <name> <base64(key id ‖ signature)>`
//   log key          GET /v1/log/key: `<name>+<hex key id>+<base64(0x01 ‖ 32-byte key)>`, key id =
//                    SHA-256(name ‖ 0x0A ‖ 0x01 ‖ key)[0..4]
//   witnesses        GET /v1/log/witnesses: one `<name>+<hex id>+<base64(0x04 ‖ key)>` a line;
//                    cosignature line `— <name> <base64(key id ‖ u64 BE time ‖ signature)>` over
//                    `cosignature/v1\ntime <t>\n` ‖ checkpoint body
//                    (GET /v1/log/checkpoint/cosigned?quorum=k: the log's note with them appended)
//
// Every function is strict and throws a TlogError whose `.reason` is a short stable code (for
// the page's words) and whose message names what was expected. Sizes and indices are Numbers
// (safe integers) or BigInts; hashes are Uint8Array(32).
//
// Exports:
//   TlogError                                   Error with .reason
//   leafHash(entryBytes) -> Promise<Uint8Array>  SHA-256(0x00 ‖ bytes)
//   nodeHash(left, right) -> Promise<Uint8Array> SHA-256(0x01 ‖ left ‖ right)
//   rootFromInclusion(index, size, leaf, proof) -> Promise<root>   RFC 9162 §2.1.3.2
//   verifyInclusion(index, size, leaf, proof, root) -> Promise<void>   reason 'proof'
//   verifyConsistency(size1, size2, proof, root1, root2) -> Promise<void>   RFC 9162 §2.1.4.2, reason 'consistency'
//   parseKey(text, alg) -> Promise<{name, keyId, keyIdHex, key, text}>   a verifier key of type
//        alg (0x01 note key, 0x04 cosignature key), its id checked; reason 'key'
//   splitNote(note) -> {body, lines}            text up to the last blank line, and its signature lines
//   parseCheckpointBody(body) -> {origin, size (BigInt), root}   reason 'checkpoint'
//   openNote(note, logKeyText) -> Promise<{body, log}>   any signed note: a line of the key's name and
//        key id must verify (a bad one, or two, reject the note; other keys' lines are ignored)
//   openCheckpoint(note, logKeyText) -> Promise<{origin, size, root, body, note}>
//        the log's signature verified (a line of the log's name and key id must verify; a bad one
//        rejects the note) and the origin is the key's name; reasons 'other_key', 'signature',
//        'checkpoint', 'note'
//   cosigners(body, lines, witnessKeys) -> Promise<{valid: [{name, time}], invalid: [name], missing: [name]}>
//   verifyCosigned(note, logKeyText, witnessKeyTexts, k) -> Promise<{checkpoint, valid, missing}>
//        the log's signature and at least k of the witnesses' cosignatures; reasons as
//        openCheckpoint, 'cosignature' (a known witness's line does not verify), 'quorum'
//   pinnedLogKey() -> Promise<{key, server, changed}>   the log's verifier key this browser
//        checks with: the one kept in localStorage `wl_log_key` (the scan page keeps it too),
//        else the server's GET /v1/log/key, kept from then on (trust on first use). `server` is
//        what the server says now (null offline); `changed` when it differs from the kept one

import { b64decode, concatBytes, equalBytes, hexEncode, sha256, utf8Encode } from './wl-util.js';
import { verifyStrict } from './wl-ed25519.js';

export class TlogError extends Error {
  constructor(reason, message) {
    super(message);
    this.name = 'TlogError';
    this.reason = reason;
  }
}

const fail = (reason, message) => { throw new TlogError(reason, message); };
const SIG_PREFIX = '\u2014 ';
const NOTE_ALG = 0x01;
const COSIG_ALG = 0x04;
/** C2SP signed-note: verifiers must accept at least 16 lines; the server accepts 100. */
const MAX_SIGNATURES = 100;

function hash32(h, what) {
  if (!(h instanceof Uint8Array) || h.length !== 32) fail('proof', `${what}: expected a 32-byte hash`);
  return h;
}

function big(n, what) {
  if (typeof n === 'bigint') {
    if (n < 0n) fail('proof', `${what}: expected a non-negative integer, got ${n}`);
    return n;
  }
  if (!Number.isSafeInteger(n) || n < 0) fail('proof', `${what}: expected a non-negative integer, got ${n}`);
  return BigInt(n);
}

export async function leafHash(entryBytes) {
  return sha256(concatBytes(new Uint8Array([0]), entryBytes));
}

export async function nodeHash(left, right) {
  return sha256(concatBytes(new Uint8Array([1]), left, right));
}

function hashes(proof, what) {
  if (!Array.isArray(proof)) fail('proof', `${what}: expected a list of hashes`);
  return proof.map((h, i) => hash32(typeof h === 'string' ? b64decode(h) : h, `${what}[${i}]`));
}

export async function rootFromInclusion(index, size, leaf, proof) {
  let fn = big(index, 'index');
  let sn = big(size, 'size') - 1n;
  if (fn > sn) fail('proof', `index ${fn} is not below the tree size ${sn + 1n}`);
  let r = hash32(leaf, 'leaf hash');
  for (const p of hashes(proof, 'inclusion proof')) {
    if (sn === 0n) fail('proof', 'the inclusion proof is longer than the tree is deep');
    if ((fn & 1n) === 1n || fn === sn) {
      r = await nodeHash(p, r);
      if ((fn & 1n) === 0n) {
        while ((fn & 1n) === 0n && fn !== 0n) { fn >>= 1n; sn >>= 1n; }
      }
    } else {
      r = await nodeHash(r, p);
    }
    fn >>= 1n;
    sn >>= 1n;
  }
  if (sn !== 0n) fail('proof', 'the inclusion proof is shorter than the tree is deep');
  return r;
}

export async function verifyInclusion(index, size, leaf, proof, root) {
  const r = await rootFromInclusion(index, size, leaf, proof);
  if (!equalBytes(r, hash32(root, 'root'))) {
    fail('proof', `the inclusion proof of entry ${index} does not lead to the root of the tree of size ${size}`);
  }
}

export async function verifyConsistency(size1, size2, proof, root1, root2) {
  const m = big(size1, 'size1');
  const n = big(size2, 'size2');
  const path = hashes(proof, 'consistency proof');
  const bad = (why) => fail('consistency', `the tree of size ${m} is not a prefix of the tree of size ${n}: ${why}`);
  hash32(root1, 'root1');
  hash32(root2, 'root2');
  if (m > n) bad('the second tree is smaller (a roll-back)');
  if (m === n) {
    if (path.length) bad('a proof between equal sizes must be empty');
    if (!equalBytes(hash32(root1, 'root1'), hash32(root2, 'root2'))) bad('same size, different roots (a fork)');
    return;
  }
  if (m === 0n) {
    if (path.length) bad('a proof from the empty tree must be empty');
    return;
  }
  if (!path.length) bad('the proof is empty');
  if ((m & (m - 1n)) === 0n) path.unshift(hash32(root1, 'root1'));
  let fn = m - 1n;
  let sn = n - 1n;
  while ((fn & 1n) === 1n) { fn >>= 1n; sn >>= 1n; }
  let fr = path[0];
  let sr = path[0];
  for (const c of path.slice(1)) {
    if (sn === 0n) bad('the proof is too long');
    if ((fn & 1n) === 1n || fn === sn) {
      fr = await nodeHash(c, fr);
      sr = await nodeHash(c, sr);
      while ((fn & 1n) === 0n && fn !== 0n) { fn >>= 1n; sn >>= 1n; }
    } else {
      sr = await nodeHash(sr, c);
    }
    fn >>= 1n;
    sn >>= 1n;
  }
  if (sn !== 0n) bad('the proof is too short');
  if (!equalBytes(fr, root1)) bad('it does not lead to the first root');
  if (!equalBytes(sr, hash32(root2, 'root2'))) bad('it does not lead to the second root');
}

function validName(name) {
  return name.length > 0 && !/[\s+]/u.test(name) && !/\p{Cc}/u.test(name);
}

async function keyId(name, alg, key) {
  return (await sha256(concatBytes(utf8Encode(name + '\n'), new Uint8Array([alg]), key))).slice(0, 4);
}

export async function parseKey(text, alg) {
  const s = String(text).trim();
  const what = alg === COSIG_ALG ? 'witness key' : 'log key';
  // The base64 key may itself hold '+': split at the first two only.
  const i = s.indexOf('+');
  const j = i < 0 ? -1 : s.indexOf('+', i + 1);
  if (j < 0) fail('key', `${what}: expected <name>+<8 hex digit key id>+<base64 key>, got ${JSON.stringify(s)}`);
  const [name, idHex, b64] = [s.slice(0, i), s.slice(i + 1, j), s.slice(j + 1)];
  if (!validName(name)) fail('key', `${what}: name ${JSON.stringify(name)} is empty or has '+' or spaces`);
  if (!/^[0-9a-fA-F]{8}$/.test(idHex)) fail('key', `${what}: the key id is not 8 hex digits`);
  let raw;
  try { raw = b64decode(b64); } catch (_) { fail('key', `${what}: the key is not base64`); }
  if (raw.length !== 33 || raw[0] !== alg) fail('key', `${what}: expected 0x0${alg} followed by 32 bytes`);
  const key = raw.slice(1);
  const id = await keyId(name, alg, key);
  if (hexEncode(id) !== idHex.toLowerCase()) fail('key', `${what}: the key id does not match the name and key`);
  return { name, keyId: id, keyIdHex: hexEncode(id), key, text: s };
}

export function splitNote(note) {
  const s = String(note);
  for (const ch of s) {
    if (ch < ' ' && ch !== '\n') fail('note', `control character U+${ch.charCodeAt(0).toString(16).padStart(4, '0').toUpperCase()} (only newline is allowed)`);
  }
  const split = s.lastIndexOf('\n\n');
  if (split < 0) fail('note', 'no blank line between text and signatures');
  const body = s.slice(0, split + 1);
  const sigs = s.slice(split + 2);
  if (!sigs.endsWith('\n') || sigs.length < 2) fail('note', 'the signature block must be lines ending in a newline');
  const lines = sigs.slice(0, -1).split('\n');
  if (lines.length > MAX_SIGNATURES) fail('note', `${lines.length} signature lines, at most ${MAX_SIGNATURES} are accepted`);
  return { body, lines };
}

/** One signature line: its key name and decoded bytes (a key id and more). */
function parseLine(line) {
  if (!line.startsWith(SIG_PREFIX)) fail('note', `signature line ${JSON.stringify(line)} does not start with an em dash and a space`);
  const rest = line.slice(SIG_PREFIX.length);
  const sp = rest.indexOf(' ');
  if (sp < 0) fail('note', `signature line ${JSON.stringify(line)} has no key name`);
  const name = rest.slice(0, sp);
  if (!validName(name)) fail('note', `signature line ${JSON.stringify(line)}: bad key name`);
  let blob;
  try { blob = b64decode(rest.slice(sp + 1)); } catch (_) { fail('note', `signature line ${JSON.stringify(line)} is not base64`); }
  if (blob.length < 5) fail('note', `signature line ${JSON.stringify(line)} holds ${blob.length} bytes, not a key id and a signature`);
  return { name, blob };
}

export function parseCheckpointBody(body) {
  if (!body.endsWith('\n')) fail('checkpoint', 'the checkpoint must end in a newline');
  const lines = body.slice(0, -1).split('\n');
  if (lines.length !== 3) fail('checkpoint', 'expected exactly three lines: origin, size, root hash (no extension lines)');
  const [origin, sizeText, rootText] = lines;
  if (!origin) fail('checkpoint', 'the origin line is empty');
  if (!/^(0|[1-9][0-9]{0,19})$/.test(sizeText) || BigInt(sizeText) >= 2n ** 64n) {
    fail('checkpoint', 'the size line is not a decimal number without leading zeros');
  }
  let root;
  try { root = b64decode(rootText); } catch (_) { fail('checkpoint', 'the root line is not base64 of 32 bytes'); }
  if (root.length !== 32) fail('checkpoint', 'the root line is not base64 of 32 bytes');
  return { origin, size: BigInt(sizeText), root };
}

export async function openNote(note, logKeyText) {
  const log = await parseKey(logKeyText, NOTE_ALG);
  const { body, lines } = splitNote(note);
  let verified = false;
  for (const line of lines) {
    const { name, blob } = parseLine(line);
    if (name !== log.name || !equalBytes(blob.slice(0, 4), log.keyId)) continue;
    const ok = blob.length === 68 && await verifyStrict(log.key, utf8Encode(body), blob.slice(4));
    if (!ok) fail('signature', `the log ${log.name}'s signature on the checkpoint does not verify: the checkpoint was altered or forged`);
    if (verified) fail('note', `two signature lines of ${log.name}`);
    verified = true;
  }
  if (!verified) fail('other_key', `the checkpoint carries no signature by the log key pinned in this browser (${log.name}, key id ${log.keyIdHex}): another log, or another key`);
  return { body, log };
}

export async function openCheckpoint(note, logKeyText) {
  const { body, log } = await openNote(note, logKeyText);
  const cp = parseCheckpointBody(body);
  if (cp.origin !== log.name) fail('checkpoint', `origin ${JSON.stringify(cp.origin)} is not the log ${JSON.stringify(log.name)}`);
  return { ...cp, body, note: String(note) };
}

async function verifyCosignatureLine(body, blob, w) {
  if (blob.length !== 4 + 8 + 64) return null;
  let time = 0n;
  for (const b of blob.slice(4, 12)) time = (time << 8n) | BigInt(b);
  if (time >= 2n ** 63n) return null;
  const msg = concatBytes(utf8Encode(`cosignature/v1\ntime ${time}\n`), utf8Encode(body));
  return (await verifyStrict(w.key, msg, blob.slice(12))) ? Number(time) : null;
}

export async function cosigners(body, lines, witnessKeys) {
  const parsed = lines.map(parseLine);
  const valid = [];
  const invalid = [];
  const missing = [];
  for (const w of witnessKeys) {
    let bad = false;
    let time = null;
    for (const { name, blob } of parsed) {
      if (name !== w.name || !equalBytes(blob.slice(0, 4), w.keyId)) continue;
      const t = await verifyCosignatureLine(body, blob, w);
      if (t === null) bad = true;
      else if (time === null) time = t;
    }
    if (bad) invalid.push(w.name);
    else if (time !== null) valid.push({ name: w.name, time });
    else missing.push(w.name);
  }
  return { valid, invalid, missing };
}

export async function verifyCosigned(note, logKeyText, witnessKeyTexts, k) {
  const checkpoint = await openCheckpoint(note, logKeyText);
  const witnesses = [];
  for (const text of witnessKeyTexts) {
    const w = await parseKey(text, COSIG_ALG);
    if (witnesses.some((o) => equalBytes(o.key, w.key))) fail('key', `witness ${w.name} is given more than once: each witness counts once`);
    witnesses.push(w);
  }
  if (!Number.isSafeInteger(k) || k < 1 || k > witnesses.length) {
    fail('quorum', `quorum: expected 1 to ${witnesses.length} (the witnesses given), got ${k}`);
  }
  const { lines } = splitNote(note);
  const { valid, invalid, missing } = await cosigners(checkpoint.body, lines, witnesses);
  if (invalid.length) fail('cosignature', `the cosignature of ${invalid.join(', ')} does not verify: the note is rejected`);
  if (valid.length < k) {
    fail('quorum', `need ${k} of ${witnesses.length} witnesses' cosignatures, found ${valid.length} valid; missing: ${missing.join(', ')}`);
  }
  return { checkpoint, valid, missing };
}

export async function pinnedLogKey() {
  let server = null;
  try {
    const r = await fetch('/v1/log/key', { cache: 'no-store' });
    if (r.ok) server = (await r.text()).trim();
  } catch (_) { /* offline: the kept key */ }
  let key = localStorage.getItem('wl_log_key');
  if (!key && server) {
    key = server;
    localStorage.setItem('wl_log_key', key);
  }
  if (!key) fail('key', 'no log key is kept in this browser and the server cannot be reached');
  return { key, server, changed: server !== null && server !== key };
}
