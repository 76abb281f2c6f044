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
// This module is the one home of these primitives in the browser: the timeline and audit pages
// use it directly, the offline bundle check (wl-bundle.js) imports it.
//
// Every function is strict and throws a TlogError whose `.reason` is a short stable code (for
// the page's words) and whose message names what was expected, in the Rust code's words where
// it has them (`note: …`, `checkpoint: …`, the inclusion proof's failures). Sizes and indices
// are Numbers (safe integers) or BigInts; hashes are Uint8Array(32).
//
// Exports:
//   TlogError                                   Error with .reason (and .code: the finer kind, for
//                                                proofs 'outside' | 'length' | 'root')
//   strictB64(text) -> Uint8Array               standard base64, canonical (re-encodes the same)
//   leafHash(entryBytes) -> Promise<Uint8Array>  SHA-256(0x00 ‖ bytes)
//   nodeHash(left, right) -> Promise<Uint8Array> SHA-256(0x01 ‖ left ‖ right)
//   rootFromInclusion(index, size, leaf, proof) -> Promise<root>   RFC 9162 §2.1.3.2
//   verifyInclusion(index, size, leaf, proof, root) -> Promise<void>   reason 'proof', code
//        'outside' (index not below size), 'length' (not exactly the path's length), 'root'
//   parseTlogProof(text) -> {index, hashes, checkpoint}   C2SP tlog-proof@v1, strictly
//        (src/ledger/tlog_proof.rs); reason 'tlog_proof', the message names the line
//   verifyConsistency(size1, size2, proof, root1, root2) -> Promise<void>   RFC 9162 §2.1.4.2, reason 'consistency'
//   parseKey(text, alg) -> Promise<{name, keyId, keyIdHex, key, text}>   a verifier key of type
//        alg (0x01 note key, 0x04 cosignature key), its id checked; reason 'key'
//   splitNote(note) -> {body, lines}            text up to the last blank line, and its signature lines
//   parseCheckpointBody(body) -> {origin, size (BigInt), root}   reason 'checkpoint'
//   openNote(note, logKey) -> Promise<{body, log}>   any signed note: a line of the key's name and
//        key id must verify (a bad one, or two, reject the note; other keys' lines are ignored).
//        `logKey` is the key's text or an already parsed {name, keyId, key}
//   openCheckpoint(note, logKey) -> Promise<{origin, size, root, body, note}>
//        the log's signature verified (a line of the log's name and key id must verify; a bad one
//        rejects the note) and the origin is the key's name; reasons 'other_key', 'signature',
//        'checkpoint', 'note'
//   verifyCosignature(body, line, witness) -> Promise<time (Number, seconds)>   one cosignature
//        line (src/ledger/cosignature.rs verify_line): reasons 'other_signer' (the line is not
//        this witness's: another name or key id), 'cosignature' (code 'length', 'time' or
//        'signature': it does not verify over this checkpoint body), 'note' (malformed line)
//   cosigners(body, lines, witnessKeys) -> Promise<{valid: [{name, time}], invalid: [name],
//        missing: [name], witnesses: [{name, keyIdHex, text, state, time, code, message}]}>
//        every witness once: state 'ok' (time), 'bad' (a line of its name and key id does not
//        verify; code as verifyCosignature) or 'none' (no line of it; code 'other_key_id' when
//        a line bears its name with another key id)
//   parseWitnesses(texts) -> Promise<[witness]>  verifier keys of type 0x04, each witness once
//        (reason 'key'; a key given twice, under any name, is refused: it would count twice)
//   cosignatures(note, logKey, witnessKeyTexts) -> Promise<{checkpoint, ...cosigners}>
//        the log's signature (as openCheckpoint) and every given witness's state
//   judgeCosignatures(found, k)                 throws unless `found` (cosigners' answer) has no
//        invalid line and at least k valid: reasons 'cosignature', 'quorum'
//   verifyCosigned(note, logKey, witnessKeyTexts, k) -> Promise<{checkpoint, valid, missing}>
//        the log's signature and at least k of the witnesses' cosignatures; reasons as
//        openCheckpoint, 'cosignature' (a known witness's line does not verify), 'quorum';
//        the messages are src/ledger/cosignature.rs open_cosigned's
//   quorumOf(n) -> k                            the k this app demands of n pinned witnesses: a
//        majority, ⌊n/2⌋ + 1
//   pinnedLogKey() -> Promise<{key, server, changed}>   the log's verifier key this browser
//        checks with: the one kept in localStorage `wl_log_key` (the scan page keeps it too),
//        else the server's GET /v1/log/key, kept from then on (trust on first use). `server` is
//        what the server says now (null offline); `changed` when it differs from the kept one
//   pinnedWitnesses(served?) -> Promise<{keys: [text], server, changed}>   the witnesses this
//        browser checks cosignatures with, by the same rule: kept in localStorage
//        `wl_witness_keys` (a JSON list of verifier keys) from the first time the log named
//        any; `served` is the list the caller was given, else GET /v1/log/witnesses is asked
//        (null offline). `changed` when the server now names another set than the kept one

import { b64decode, b64encode, concatBytes, equalBytes, hexEncode, sha256, utf8Encode } from './wl-util.js';
import { verifyStrict } from './wl-ed25519.js';

export class TlogError extends Error {
  constructor(reason, message, code = null) {
    super(message);
    this.name = 'TlogError';
    this.reason = reason;
    this.code = code;
  }
}

const fail = (reason, message, code = null) => { throw new TlogError(reason, message, code); };
const SIG_PREFIX = '\u2014 ';
const NOTE_ALG = 0x01;
const COSIG_ALG = 0x04;
/** C2SP signed-note: verifiers must accept at least 16 lines; the server accepts 100. */
const MAX_SIGNATURES = 100;
const PROOF_HEADER = 'c2sp.org/tlog-proof@v1';
const WITNESS_KEYS = 'wl_witness_keys';

export function strictB64(text) {
  const b = b64decode(text);
  if (b64encode(b) !== text) throw new TlogError('base64', 'base64: not canonical');
  return b;
}

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

/** The length of the inclusion path of `index` in a tree of `size` leaves (RFC 9162 §2.1.3.1). */
function inclusionLength(index, size) {
  let [start, end, len] = [0n, size, 0];
  while (end - start > 1n) {
    let k = 1n;
    while (k * 2n < end - start) k *= 2n;
    if (index < start + k) end = start + k;
    else start += k;
    len += 1;
  }
  return len;
}

export async function rootFromInclusion(index, size, leaf, proof) {
  let fn = big(index, 'index');
  const n = big(size, 'size');
  if (fn >= n) fail('proof', `index ${fn} is not inside the checkpoint's tree of size ${n}`, 'outside');
  const path = hashes(proof, 'inclusion proof');
  const want = inclusionLength(fn, n);
  if (path.length !== want) {
    fail('proof', `proof has ${path.length} hashes, a tree of size ${n} needs ${want} for index ${fn}`, 'length');
  }
  let sn = n - 1n;
  let r = hash32(leaf, 'leaf hash');
  for (const p of path) {
    if ((fn & 1n) === 1n || fn === sn) {
      r = await nodeHash(p, r);
      while ((fn & 1n) === 0n && fn !== 0n) { fn >>= 1n; sn >>= 1n; }
    } else {
      r = await nodeHash(r, p);
    }
    fn >>= 1n;
    sn >>= 1n;
  }
  return r;
}

export async function verifyInclusion(index, size, leaf, proof, root) {
  const r = await rootFromInclusion(index, size, leaf, proof);
  if (!equalBytes(r, hash32(root, 'root'))) fail('proof', "inclusion proof does not lead to the checkpoint's root", 'root');
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
    if (ch < ' ' && ch !== '\n') fail('note', `note: control character U+${ch.charCodeAt(0).toString(16).padStart(4, '0').toUpperCase()} (only newline is allowed)`);
  }
  const split = s.lastIndexOf('\n\n');
  if (split < 0) fail('note', 'note: no blank line between text and signatures');
  const body = s.slice(0, split + 1);
  const sigs = s.slice(split + 2);
  if (!sigs.endsWith('\n') || sigs.length < 2) fail('note', 'note: the signature block must be lines ending in a newline');
  const lines = sigs.slice(0, -1).split('\n');
  if (lines.length > MAX_SIGNATURES) fail('note', `note: ${lines.length} signature lines, at most ${MAX_SIGNATURES} are accepted`);
  return { body, lines };
}

/** One signature line: its key name and decoded bytes (a key id and more). */
function parseLine(line) {
  const bad = (why) => fail('note', `note: signature line ${JSON.stringify(line)} ${why}`);
  if (!line.startsWith(SIG_PREFIX)) bad('does not start with an em dash and a space');
  const rest = line.slice(SIG_PREFIX.length);
  const sp = rest.indexOf(' ');
  if (sp < 0) bad('has no key name');
  const name = rest.slice(0, sp);
  if (!validName(name)) bad('has a key name that is empty or has \'+\' or spaces');
  let blob;
  try { blob = b64decode(rest.slice(sp + 1)); } catch (_) { bad('is not base64'); }
  if (blob.length < 5) bad(`holds ${blob.length} bytes, not a key id and a signature`);
  return { name, blob };
}

export function parseCheckpointBody(body) {
  const bad = (why) => fail('checkpoint', `checkpoint: ${why}`);
  if (!body.endsWith('\n')) bad('body must end in a newline');
  const lines = body.slice(0, -1).split('\n');
  if (lines.length !== 3) bad('expected exactly three lines: origin, size, root hash (no extension lines)');
  const [origin, sizeText, rootText] = lines;
  if (!origin) bad('origin line is empty');
  if (!/^(0|[1-9][0-9]{0,19})$/.test(sizeText) || BigInt(sizeText) >= 2n ** 64n) {
    bad('size line is not a decimal number without leading zeros');
  }
  let root = null;
  try { root = b64decode(rootText); } catch (_) { root = null; }
  if (!root || root.length !== 32) bad('root line is not base64 of 32 bytes');
  return { origin, size: BigInt(sizeText), root };
}

/** A parsed verifier ({name, keyId, key}) as given, or the key's text parsed. */
async function noteVerifier(logKey) {
  return typeof logKey === 'object' && logKey && logKey.keyId ? logKey : parseKey(logKey, NOTE_ALG);
}

export async function openNote(note, logKey) {
  const log = await noteVerifier(logKey);
  const keyIdHex = hexEncode(log.keyId);
  const { body, lines } = splitNote(note);
  let verified = false;
  for (const line of lines) {
    const { name, blob } = parseLine(line);
    if (name !== log.name || !equalBytes(blob.slice(0, 4), log.keyId)) continue;
    const ok = blob.length === 68 && await verifyStrict(log.key, utf8Encode(body), blob.slice(4));
    if (!ok) fail('signature', `the log ${log.name}'s signature on the checkpoint does not verify: the checkpoint was altered or forged`);
    if (verified) fail('note', `note: two signature lines of ${log.name}`);
    verified = true;
  }
  if (!verified) fail('other_key', `the checkpoint carries no signature by the log key pinned in this browser (${log.name}, key id ${keyIdHex}): another log, or another key`);
  return { body, log };
}

export async function openCheckpoint(note, logKey) {
  const { body, log } = await openNote(note, logKey);
  const cp = parseCheckpointBody(body);
  if (cp.origin !== log.name) fail('checkpoint', `checkpoint: origin ${JSON.stringify(cp.origin)} is not the log ${JSON.stringify(log.name)}`);
  return { ...cp, body, note: String(note) };
}

export function parseTlogProof(text) {
  const bad = (line, expected) => fail('tlog_proof', `line ${line}: expected ${expected}`);
  const at0 = text.indexOf('\n\n');
  if (at0 < 0) bad(1, 'the proof lines, an empty line, then the checkpoint');
  const lines = text.slice(0, at0).split('\n');
  const checkpoint = text.slice(at0 + 2);
  if (lines[0] !== PROOF_HEADER) bad(1, `${JSON.stringify(PROOF_HEADER)} as the first line`);
  let at = 1;
  if (lines[at] !== undefined && lines[at].startsWith('extra ')) {
    // Never to be trusted (the spec): parsed, then ignored.
    try { strictB64(lines[at].slice(6)); } catch (_) { bad(at + 1, '`extra ` followed by standard base64'); }
    at++;
  }
  const l = lines[at];
  if (l === undefined || !l.startsWith('index ')) bad(at + 1, '`index N`');
  const digits = l.slice(6);
  if (!/^(0|[1-9][0-9]*)$/.test(digits) || !Number.isSafeInteger(Number(digits))) {
    bad(at + 1, '`index N` with N a decimal number without leading zeros');
  }
  const index = Number(digits);
  const hashes = [];
  for (let i = at + 1; i < lines.length; i++) {
    let h = null;
    try { h = strictB64(lines[i]); } catch (_) { h = null; }
    if (!h || h.length !== 32) bad(i + 1, 'a hash: standard base64 of 32 bytes');
    hashes.push(h);
  }
  if (!checkpoint || !checkpoint.endsWith('\n')) bad(lines.length + 2, 'the checkpoint note, ending in a newline');
  return { index, hashes, checkpoint };
}

/** A line as given: its text, or already split {name, blob}. */
const lineOf = (line) => (typeof line === 'string' ? parseLine(line.replace(/\n$/, '')) : line);

export async function verifyCosignature(body, line, w) {
  const { name, blob } = lineOf(line);
  if (name !== w.name || blob.length < 4 || !equalBytes(blob.slice(0, 4), w.keyId)) {
    fail('other_signer', `cosignature line is not from ${w.text || w.name}`);
  }
  if (blob.length !== 4 + 8 + 64) {
    fail('cosignature', `cosignature line: a cosignature by ${w.name} is ${blob.length} bytes, expected 76 (key id, time, signature)`, 'length');
  }
  let time = 0n;
  for (const b of blob.slice(4, 12)) time = (time << 8n) | BigInt(b);
  if (time >= 2n ** 63n) fail('cosignature', `cosignature line: the time of the cosignature by ${w.name} exceeds 2^63 - 1`, 'time');
  const msg = concatBytes(utf8Encode(`cosignature/v1\ntime ${time}\n`), utf8Encode(body));
  if (!(await verifyStrict(w.key, msg, blob.slice(12)))) {
    fail('cosignature', `cosignature by ${w.name} does not verify over this checkpoint`, 'signature');
  }
  return Number(time);
}

export async function cosigners(body, lines, witnessKeys) {
  const parsed = lines.map(lineOf);
  const valid = [];
  const invalid = [];
  const missing = [];
  const witnesses = [];
  for (const w of witnessKeys) {
    const row = { name: w.name, keyIdHex: hexEncode(w.keyId), text: w.text, state: 'none', time: null, code: null, message: null };
    for (const p of parsed) {
      if (p.name !== w.name) continue;
      if (!equalBytes(p.blob.slice(0, 4), w.keyId)) {
        if (row.state === 'none') Object.assign(row, { code: 'other_key_id', message: `a line of the name ${w.name} carries key id ${hexEncode(p.blob.slice(0, 4))}, not ${row.keyIdHex}: not this witness's` });
        continue;
      }
      try {
        const t = await verifyCosignature(body, p, w);
        if (row.state !== 'bad' && row.time === null) Object.assign(row, { state: 'ok', time: t, code: null, message: null });
      } catch (e) {
        if (!(e instanceof TlogError)) throw e;
        Object.assign(row, { state: 'bad', time: null, code: e.code, message: e.message });
      }
    }
    if (row.state === 'ok') valid.push({ name: w.name, time: row.time });
    else if (row.state === 'bad') invalid.push(w.name);
    else missing.push(w.name);
    witnesses.push(row);
  }
  return { valid, invalid, missing, witnesses };
}

export async function parseWitnesses(texts) {
  const out = [];
  for (const text of texts) {
    const w = await parseKey(text, COSIG_ALG);
    const same = out.find((o) => equalBytes(o.key, w.key));
    if (same) fail('key', `witness ${same.text} is given more than once (as ${w.text}): each witness counts once`);
    out.push(w);
  }
  return out;
}

export async function cosignatures(note, logKey, witnessKeyTexts) {
  const checkpoint = await openCheckpoint(note, logKey);
  const witnesses = await parseWitnesses(witnessKeyTexts);
  const { lines } = splitNote(note);
  return { checkpoint, ...(await cosigners(checkpoint.body, lines, witnesses)) };
}

export function judgeCosignatures(found, k) {
  const text = (name) => found.witnesses.find((w) => w.name === name).text;
  if (found.invalid.length) {
    fail('cosignature', `the cosignature of ${found.invalid.map(text).join(', ')} does not verify: the note is rejected`);
  }
  if (found.valid.length < k) {
    fail('quorum', `need ${k} of ${found.witnesses.length} witnesses' cosignatures, found ${found.valid.length} valid; missing: ${found.missing.map(text).join(', ')}`);
  }
}

export async function verifyCosigned(note, logKey, witnessKeyTexts, k) {
  const witnesses = await parseWitnesses(witnessKeyTexts);
  if (!Number.isSafeInteger(k) || k < 1 || k > witnesses.length) {
    fail('quorum', `quorum: expected 1 to ${witnesses.length} (the witnesses given), got ${k}`);
  }
  const found = await cosignatures(note, logKey, witnessKeyTexts);
  judgeCosignatures(found, k);
  return { checkpoint: found.checkpoint, valid: found.valid, missing: found.missing };
}

export function quorumOf(n) {
  return Math.floor(n / 2) + 1;
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

export async function pinnedWitnesses(served) {
  let server = Array.isArray(served) ? served.map((s) => String(s).trim()).filter(Boolean) : null;
  if (server === null) {
    try {
      const r = await fetch('/v1/log/witnesses', { cache: 'no-store' });
      if (r.ok) server = (await r.text()).split('\n').map((l) => l.trim()).filter(Boolean);
    } catch (_) { /* offline: the kept ones */ }
  }
  let keys = [];
  try {
    const kept = JSON.parse(localStorage.getItem(WITNESS_KEYS) || '[]');
    if (Array.isArray(kept)) keys = kept.filter((k) => typeof k === 'string');
  } catch (_) { keys = []; }
  if (!keys.length && server && server.length) {
    keys = server;
    localStorage.setItem(WITNESS_KEYS, JSON.stringify(keys));
  }
  const set = (l) => [...l].sort().join('\n');
  return { keys, server, changed: server !== null && set(server) !== set(keys) };
}
