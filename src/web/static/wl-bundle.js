// wl-bundle.js: a second, independent implementation of the case bundle checks that
// fixtures/bundle/FORMAT.md specifies (`wasteledger-bundle/v1`; the reference is
// src/investigate/bundle.rs `verify`, what `wasteledger verify-bundle` runs). It works entirely
// offline: no fetch, only the bundle's bytes and the log's verifier key the caller pins.
// tests/it/console_cases.rs runs both on real and altered bundles and asserts they accept the
// same ones and reject the same ones for the same reason.
//
// Every check is reported as {subject, ok, code, detail}: `subject` is what was checked
// ('bundle', 'log key', 'checkpoint', 'entry 17', 'registry', 'export', 'manifest 2026…'),
// `code` a stable reason code (REASONS below: its Chinese and English sentence), `detail` the
// English text, worded as the Rust verifier words it wherever the reason is the same.
//
// Exports:
//   FORMAT                                   'wasteledger-bundle/v1'
//   REASONS                                  code -> {zh, en}: what each failure means, in words
//   reasonWords(code) -> {zh, en}            the sentence of a code (a generic one if unknown)
//   verifyBundle(bytesOrText, logKeyText, witnesses?) -> Promise<{ok, checks, bundle?, entries,
//        checkpoint?, cosignatures, witnesses?}>  never throws for a bad bundle; `entries` maps
//        index -> {index, time, type, event, signers}; `checkpoint` is {origin, size, root} when
//        it could be read; `cosignatures` counts the checkpoint's signature lines besides the
//        log's. `witnesses` = {keys: [verifier key text], quorum?, required?}: with keys, one
//        more check (subject 'witnesses', as `verify-bundle --witness … --quorum k`): at least k
//        (default wl-tlog.js quorumOf(n)) of them cosigned the checkpoint (C2SP
//        tlog-cosignature) and no line of theirs fails; with `required: false` fewer than k is
//        not a failure, only `witnesses.below` (a fresh pull no witness has seen yet), while a
//        failing line still is. The answer's `witnesses` is {quorum, of, list, below} with each
//        witness's state (wl-tlog.js cosigners). Without keys the lines are counted, not checked.
//   parseTime(text) -> Unix milliseconds     RFC 3339 UTC only (FORMAT.md "Encoding"); throws
// The log's primitives (leaf and node hash, inclusion proofs, signed notes, checkpoints,
// tlog-proof, canonical base64, cosignatures) are wl-tlog.js's: only what is about bundles is here.

import { b64decode, b64encode, concatBytes, utf8Decode, utf8Encode, equalBytes } from './wl-util.js';
import * as tl from './wl-tlog.js';
import { parseCanonical } from './wl-canon.js';
import { verifyStrict } from './wl-ed25519.js';
import { parseVerifierKey } from './wl-codes.js';
import { EVENT_CONTEXT } from './wl-sign.js';
import { Point } from './vendor/noble-ed25519.js';

export const FORMAT = 'wasteledger-bundle/v1';
const MAX_EVENT_SIGNATURES = 8;
const MAX_LABEL = 64;
const CREATING = ['manifest.issued', 'station.consolidated', 'station.split', 'custody.received'];

export const REASONS = {
  ok: { zh: '通过', en: 'holds' },
  'bundle-json': { zh: '不是证据包文件（JSON 字段不符合格式）', en: 'not a bundle file (its JSON fields are not the format’s)' },
  'bundle-format': { zh: '证据包格式版本不对', en: 'the bundle’s format version is not v1' },
  'log-key': { zh: '证据包写的日志公钥不是本页固定的日志公钥', en: 'the bundle names another log key than the pinned one' },
  'checkpoint-not-signed': { zh: '检查点没有本日志公钥的签名', en: 'the checkpoint is not signed by the log’s key' },
  'checkpoint-bad-signature': { zh: '检查点上日志公钥的签名验证失败：检查点被篡改或伪造', en: 'the log key’s signature on the checkpoint does not verify: altered or forged' },
  'checkpoint-note': { zh: '检查点的签名格式不正确', en: 'the checkpoint note is malformed' },
  'checkpoint-body': { zh: '检查点内容（日志名、条目数、根哈希）不正确', en: 'the checkpoint body (origin, size, root) is malformed' },
  'entry-order': { zh: '条目没有按序号严格递增排列（重复或乱序）', en: 'entries are listed twice or out of order' },
  'entry-base64': { zh: '条目不是 base64 编码', en: 'the entry is not base64' },
  'entry-parse': { zh: '条目字节不是日志条目（被改动或损坏）', en: 'the entry’s bytes are not a log entry (altered or damaged)' },
  'entry-index': { zh: '条目字节里的序号与所列序号不同', en: 'the entry’s bytes hold another index' },
  'proof-parse': { zh: '包含证明格式不正确', en: 'the inclusion proof is malformed' },
  'proof-index': { zh: '包含证明是另一个条目的', en: 'the inclusion proof is for another entry' },
  'proof-checkpoint': { zh: '包含证明带的检查点与证据包的不同', en: 'the proof carries another checkpoint' },
  'proof-outside': { zh: '条目序号不在检查点的日志树内', en: 'the entry is outside the checkpoint’s tree' },
  'proof-length': { zh: '包含证明的哈希个数不对', en: 'the proof has the wrong number of hashes' },
  'proof-root': { zh: '包含证明算不出检查点的根哈希：条目被改动，或证明是假的', en: 'the inclusion proof does not lead to the checkpoint’s root: the entry or the proof was altered' },
  signature: { zh: '事件签名验证失败：内容被改动或签名是伪造的', en: 'an event signature does not verify: altered or forged' },
  'chain-zero': { zh: '第 0 条的前哈希不是 32 个零字节', en: 'entry 0 does not start the chain' },
  'chain-prev': { zh: '相邻条目的哈希链断开', en: 'neighbouring entries do not chain' },
  'time-backwards': { zh: '日志时间倒退', en: 'the log’s time goes backwards' },
  'genesis-missing': { zh: '缺少创世条目（第 0 条，写明日志公钥和主管部门公钥）', en: 'the genesis entry (entry 0) is missing' },
  'genesis-log-key': { zh: '创世条目写的日志公钥不是本页固定的', en: 'the genesis names another log key' },
  'genesis-name': { zh: '创世条目写的日志名称不是本日志', en: 'the genesis names another log' },
  'genesis-not': { zh: '第 0 条不是由其所写主管部门签名的创世条目', en: 'entry 0 is not a genesis signed by its authority' },
  'registry-not-authority': { zh: '登记条目（公钥、单位）不是主管部门签名的', en: 'a registry entry is not signed by the authority' },
  'registry-refused': { zh: '登记条目不符合日志规则，日志本会拒收', en: 'a registry entry the log would have refused' },
  'key-unregistered': { zh: '签名公钥在证据包中没有登记条目', en: 'a signer key has no registration in the bundle' },
  'key-before-registration': { zh: '签名公钥在登记之前就被使用', en: 'a key used before it was registered' },
  'key-revoked': { zh: '签名公钥在吊销生效之后仍被使用', en: 'a key used after its revocation took effect' },
  'key-holder-unregistered': { zh: '公钥持有单位在证据包中没有登记', en: 'a key’s holder has no party registration' },
  'device-expired': { zh: '设备密钥在有效期（not_after）之后被使用', en: 'a device key used after its not_after' },
  'delegation-chain': { zh: '设备密钥的授权链（主管部门 → 单位密钥 → 设备密钥）不成立', en: 'the chain authority → party key → device key does not hold' },
  'export-missing': { zh: '缺少记录本次调取的条目', en: 'the export entry is missing' },
  'export-type': { zh: '所写的调取条目不是证据调取事件', en: 'the export entry is not an evidence.exported event' },
  'export-signer': { zh: '调取条目不是由所写调取单位签名的', en: 'the export is signed for another party' },
  'export-header': { zh: '证据包头与调取条目所写不一致', en: 'the bundle’s header differs from the export entry' },
  'export-selection': { zh: '证据包的联单与调取所选的联单不一致', en: 'the bundle’s manifests differ from the selection' },
  'manifest-twice': { zh: '同一联单列了两次', en: 'a manifest is listed twice' },
  'manifest-order': { zh: '联单的条目没有按序号递增', en: 'a manifest’s entries are not ascending' },
  'manifest-entry-missing': { zh: '联单所列条目不在证据包中', en: 'an entry listed under a manifest is not in the bundle' },
  'manifest-creator': { zh: '联单的创建条目不对', en: 'a manifest’s creating entry is wrong' },
  'witness-cosignature': { zh: '见证人的联署签名验证失败：检查点或联署被改动', en: 'a witness’s cosignature does not verify: the checkpoint or the cosignature was altered' },
  'witness-quorum': { zh: '联署的见证人不足法定数', en: 'fewer witnesses cosigned than the quorum' },
  'witness-key': { zh: '本机固定的见证人公钥不正确或重复', en: 'a pinned witness key is malformed or given twice' },
  'witness-checkpoint': { zh: '检查点本身不成立，联署无从核验', en: 'the checkpoint itself does not verify, so no cosignature can count' },
  'manifest-unnamed': { zh: '条目列在联单下，但事件里没有这张联单', en: 'an entry listed under a manifest does not name it' },
};

export function reasonWords(code) {
  return REASONS[code] || { zh: '检查未通过', en: 'the check fails' };
}

// ---------------------------------------------------------------------------------------------
// Times (FORMAT.md "Encoding")
// ---------------------------------------------------------------------------------------------

const TIME_RE = /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(\.\d+)?(Z|z|\+00:00)$/;

export function parseTime(text) {
  const m = typeof text === 'string' ? TIME_RE.exec(text) : null;
  if (!m) throw new Error(`expected an RFC 3339 UTC time like 2026-11-28T08:30:00Z, got ${JSON.stringify(text)}`);
  const [y, mo, d, h, mi] = m.slice(1, 6).map(Number);
  let s = Number(m[6]);
  if (s === 60) s = 59;
  const ms = m[7] ? Number(m[7].slice(1, 4).padEnd(3, '0')) : 0;
  const days = new Date(Date.UTC(y, mo, 0)).getUTCDate();
  if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > days || h > 23 || mi > 59 || s > 59) {
    throw new Error(`expected an RFC 3339 UTC time like 2026-11-28T08:30:00Z, got ${JSON.stringify(text)}`);
  }
  return Date.UTC(y, mo - 1, d, h, mi, s, ms);
}

const timeText = (ms) => new Date(ms).toISOString();

// ---------------------------------------------------------------------------------------------
// The checkpoint (the signed-note and Merkle primitives are wl-tlog.js's)
// ---------------------------------------------------------------------------------------------

/// What wl-tlog.js's reasons are in this format's codes, with the Rust verifier's wording
/// (src/ledger/tlog_proof.rs describe_note_error) where it words them its own way.
const NOTE_CODES = {
  signature: ['checkpoint-bad-signature', 'a signature line of the given log key does not verify: the note is rejected'],
  other_key: ['checkpoint-not-signed', 'not signed by the given log key'],
  note: ['checkpoint-note', null],
  checkpoint: ['checkpoint-body', null],
};

/// The checkpoint opened with the log's key: {origin, size (Number), root, body}; throws
/// {code, detail} for a TlogError.
async function openCheckpoint(note, verifier) {
  try {
    const cp = await tl.openCheckpoint(note, verifier);
    return { ...cp, size: Number(cp.size) };
  } catch (e) {
    if (!(e instanceof tl.TlogError) || !NOTE_CODES[e.reason]) throw e;
    const [code, words] = NOTE_CODES[e.reason];
    throw { code, detail: words || e.message };
  }
}

// ---------------------------------------------------------------------------------------------
// Entries
// ---------------------------------------------------------------------------------------------

const EVENT_KEY = utf8Encode('{"event":');
const INDEX_KEY = utf8Encode(',"index":');

function lastIndexOfBytes(hay, needle) {
  outer: for (let i = hay.length - needle.length; i >= 0; i--) {
    for (let j = 0; j < needle.length; j++) if (hay[i + j] !== needle[j]) continue outer;
    return i;
  }
  return -1;
}

function isKey(s) {
  try {
    const b = tl.strictB64(s);
    if (b.length !== 32) return null;
    Point.fromBytes(b, true);
    return b;
  } catch (e) {
    return null;
  }
}

/// A log entry from its exact bytes (src/ledger/entry.rs `Entry::decode`); throws Error.
function decodeEntry(bytes) {
  const bad = (f, e) => new Error(`field \`${f}\`: expected ${e}`);
  const top = parseCanonical(bytes);
  if (top === null || typeof top !== 'object' || Array.isArray(top)) throw bad('(entry)', 'a JSON object');
  if (Object.keys(top).length !== 5) throw bad('(entry)', 'exactly the fields event, index, prev, signatures, time');
  if (!Number.isSafeInteger(top.index) || top.index < 0) throw bad('index', 'a non-negative integer');
  let prev = null;
  try {
    prev = typeof top.prev === 'string' ? b64decode(top.prev) : null;
  } catch (e) {
    prev = null;
  }
  if (!prev || prev.length !== 32) throw bad('prev', 'base64 of a 32-byte hash');
  if (typeof top.time !== 'string') throw bad('time', 'an RFC 3339 time');
  const time = parseTime(top.time);
  if (timeText(time) !== top.time) throw bad('time', `the form YYYY-MM-DDTHH:MM:SS.mmmZ, got ${JSON.stringify(top.time)}`);
  if (!Array.isArray(top.signatures)) throw bad('signatures', 'an array');
  if (top.event === null || typeof top.event !== 'object' || Array.isArray(top.event)) throw bad('event', 'a JSON object');
  if (typeof top.event.type !== 'string' || top.event.type === '') throw bad('event.type', 'a non-empty string naming the kind of event');
  const sigs = top.signatures;
  if (sigs.length === 0) throw bad('signatures', 'at least one signature');
  if (sigs.length > MAX_EVENT_SIGNATURES) throw bad('signatures', `at most ${MAX_EVENT_SIGNATURES} signatures, got ${sigs.length}`);
  const signatures = sigs.map((s, i) => {
    if (s === null || typeof s !== 'object' || Object.keys(s).length !== 2) throw bad(`signatures[${i}]`, 'an object with exactly `key` and `sig`');
    const key = typeof s.key === 'string' ? isKey(s.key) : null;
    if (!key) throw bad(`signatures[${i}].key`, 'base64 of a 32-byte Ed25519 public key');
    let sig = null;
    try {
      sig = typeof s.sig === 'string' ? b64decode(s.sig) : null;
    } catch (e) {
      sig = null;
    }
    if (!sig || sig.length !== 64) throw bad(`signatures[${i}].sig`, 'base64 of a 64-byte Ed25519 signature');
    if (sigs.slice(0, i).some((o) => o && o.key === s.key)) throw bad(`signatures[${i}].key`, 'each key signs once; this key already signed');
    return { keyText: s.key, key, sig };
  });
  const end = lastIndexOfBytes(bytes, INDEX_KEY);
  if (end < 0) throw bad('index', 'a top-level index field');
  return {
    index: top.index,
    prev,
    time,
    type: top.event.type,
    event: top.event,
    eventBytes: bytes.slice(EVENT_KEY.length, end),
    signatures,
    signers: signatures.map((s) => s.keyText),
  };
}

// ---------------------------------------------------------------------------------------------
// The bundle's JSON (closed: unknown fields are an error)
// ---------------------------------------------------------------------------------------------

function shape(b) {
  const isObj = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);
  const u64 = (v) => Number.isSafeInteger(v) && v >= 0;
  const str = (v) => typeof v === 'string';
  const fields = (o, want, optional, where) => {
    if (!isObj(o)) throw new Error(`${where}: expected an object`);
    for (const k of Object.keys(o)) if (!want.includes(k) && !optional.includes(k)) throw new Error(`${where}: unknown field \`${k}\``);
    for (const k of want) if (!(k in o)) throw new Error(`${where}: missing field \`${k}\``);
  };
  const need = (ok, what) => {
    if (!ok) throw new Error(`invalid type or value: ${what}`);
  };
  fields(b, ['format', 'log_key', 'checkpoint', 'export', 'manifests', 'entries', 'summary'], [], 'bundle');
  for (const k of ['format', 'log_key', 'checkpoint', 'summary']) need(str(b[k]), k);
  const x = b.export;
  fields(x, ['index', 'time', 'by', 'case', 'reason', 'manifests', 'at'], ['query'], 'export');
  need(u64(x.index), 'export.index');
  for (const k of ['by', 'case', 'reason', 'time', 'at']) need(str(x[k]), `export.${k}`);
  need(/^[0-9A-HJ-NP-RTUWXY]{18}$/.test(x.by), 'export.by (a USCC)');
  parseTime(x.time);
  parseTime(x.at);
  need(x.query === undefined || x.query === null || str(x.query), 'export.query');
  need(Array.isArray(x.manifests) && x.manifests.every((m) => str(m) && /^\d{14}$/.test(m)), 'export.manifests');
  need(Array.isArray(b.manifests), 'manifests');
  for (const m of b.manifests) {
    fields(m, ['number', 'created_by', 'entries'], [], 'manifests[]');
    need(str(m.number) && /^\d{14}$/.test(m.number), 'manifests[].number');
    need(u64(m.created_by), 'manifests[].created_by');
    need(Array.isArray(m.entries) && m.entries.every(u64), 'manifests[].entries');
  }
  need(Array.isArray(b.entries), 'entries');
  for (const e of b.entries) {
    fields(e, ['index', 'why', 'entry', 'proof'], [], 'entries[]');
    need(u64(e.index), 'entries[].index');
    need(Array.isArray(e.why) && e.why.every(str), 'entries[].why');
    need(str(e.entry) && str(e.proof), 'entries[].entry/proof');
  }
}

// ---------------------------------------------------------------------------------------------
// Verification (FORMAT.md "Verifying", in its order)
// ---------------------------------------------------------------------------------------------

class Report {
  constructor() {
    this.checks = [];
  }
  pass(subject, detail) {
    this.checks.push({ subject, ok: true, code: 'ok', detail });
  }
  fail(subject, code, detail) {
    this.checks.push({ subject, ok: false, code, detail });
  }
}

export async function verifyBundle(input, logKeyText, witnesses = null) {
  const r = new Report();
  const out = { ok: false, checks: r.checks, entries: new Map(), cosignatures: 0 };
  let verifier;
  try {
    verifier = await parseVerifierKey(logKeyText);
  } catch (e) {
    r.fail('log key', 'log-key', `the pinned log key cannot be read: ${e.message}`);
    return out;
  }
  const logKey = String(logKeyText).trim();
  let b;
  try {
    const text = typeof input === 'string' ? input : utf8Decode(input);
    b = JSON.parse(text);
    shape(b);
  } catch (e) {
    r.fail('bundle', 'bundle-json', `not a wasteledger bundle (${FORMAT} JSON): ${e.message}`);
    return out;
  }
  out.bundle = b;
  if (b.format === FORMAT) r.pass('bundle', `format ${FORMAT}, ${b.entries.length} entries`);
  else r.fail('bundle', 'bundle-format', `format ${JSON.stringify(b.format)} is not ${JSON.stringify(FORMAT)}`);
  if (b.log_key.trim() === logKey) r.pass('log key', `the bundle names the given key ${logKey}`);
  else r.fail('log key', 'log-key', `the bundle names ${b.log_key.trim()}, not the given key ${logKey} (checked with the given key)`);

  let cp = null;
  out.cosignatures = otherSignatureLines(b.checkpoint, verifier.name);
  try {
    cp = await openCheckpoint(b.checkpoint, verifier);
    r.pass('checkpoint', `signed by ${verifier.name}: ${cp.size} entries, root ${b64encode(cp.root)}; ${out.cosignatures} other signature line(s) (cosignatures, not checked here)`);
    out.checkpoint = cp;
  } catch (e) {
    if (!e || !e.code) throw e;
    r.fail('checkpoint', e.code, e.detail);
    const at = b.checkpoint.lastIndexOf('\n\n');
    try {
      if (at >= 0) {
        const body = tl.parseCheckpointBody(b.checkpoint.slice(0, at + 1));
        cp = { ...body, size: Number(body.size) };
      }
    } catch (e2) {
      cp = null;
    }
  }

  const parsed = new Map();
  const raw = new Map();
  let last = null;
  for (const e of b.entries) {
    const s = `entry ${e.index}`;
    if (last !== null && last >= e.index) r.fail(s, 'entry-order', 'entries are not in strictly increasing index order (listed twice or out of order)');
    last = e.index;
    let bytes;
    try {
      bytes = b64decode(e.entry);
    } catch (err) {
      r.fail(s, 'entry-base64', '`entry` is not base64');
      continue;
    }
    try {
      const en = decodeEntry(bytes);
      if (en.index === e.index) {
        r.pass(s, `bytes parse as entry ${en.index} (${en.type})`);
        parsed.set(e.index, en);
        raw.set(e.index, bytes);
      } else {
        r.fail(s, 'entry-index', `the bytes hold entry ${en.index}, not ${e.index}`);
      }
    } catch (err) {
      r.fail(s, 'entry-parse', `the bytes do not parse as a log entry: ${err.message}`);
    }
    let p;
    try {
      p = tl.parseTlogProof(e.proof);
    } catch (err) {
      r.fail(s, 'proof-parse', `proof: ${err.message}`);
      p = null;
    }
    if (p) {
      if (p.index !== e.index) r.fail(s, 'proof-index', `the proof is for index ${p.index}`);
      if (p.checkpoint !== b.checkpoint) r.fail(s, 'proof-checkpoint', "the proof carries another checkpoint than the bundle's");
      if (cp) {
        try {
          await tl.verifyInclusion(e.index, cp.size, await tl.leafHash(bytes), p.hashes, cp.root);
          r.pass(s, `inclusion proof (${p.hashes.length} hashes) leads to the checkpoint's root`);
        } catch (err) {
          if (!(err instanceof tl.TlogError) || !err.code) throw err;
          r.fail(s, `proof-${err.code}`, err.message);
        }
      }
    }
    const en = parsed.get(e.index);
    if (en) {
      const msg = concatBytes(utf8Encode(EVENT_CONTEXT), en.eventBytes);
      let all = true;
      for (const sig of en.signatures) {
        if (!(await verifyStrict(sig.key, msg, sig.sig))) {
          all = false;
          r.fail(s, 'signature', `signature by key ${sig.keyText} does not verify`);
        }
      }
      if (all) r.pass(s, `signatures verify (verify_strict): ${en.signers.join(', ')}`);
    }
  }
  const sorted = [...parsed.entries()].sort((x, y) => x[0] - y[0]);
  await checkChain(r, sorted, raw);
  checkKeys(r, sorted, parsed, verifier);
  checkExport(r, b, parsed);
  checkManifests(r, b, parsed);
  if (witnesses && Array.isArray(witnesses.keys) && witnesses.keys.length) {
    out.witnesses = await checkWitnesses(r, b.checkpoint, verifier, witnesses);
  }
  for (const [i, e] of sorted) {
    out.entries.set(i, { index: i, time: e.time, type: e.type, event: e.event, signers: e.signers });
  }
  out.ok = r.checks.length > 0 && r.checks.every((c) => c.ok);
  return out;
}

/// `verify-bundle --witness … --quorum k` (src/investigate/bundle.rs verify_witnessed): the
/// checkpoint's cosignatures by the given witnesses, in the Rust verifier's words.
async function checkWitnesses(r, note, verifier, { keys, quorum, required = true }) {
  const k = quorum ?? tl.quorumOf(keys.length);
  const out = { quorum: k, of: keys.length, list: [], below: false };
  try {
    const found = await tl.cosignatures(note, verifier, keys);
    out.list = found.witnesses;
    tl.judgeCosignatures(found, k);
    const names = found.valid.map((v) => v.name).join(', ');
    r.pass('witnesses', `${found.valid.length} of ${keys.length} known witnesses cosigned the checkpoint (${names}); ${k} required`);
  } catch (e) {
    if (!(e instanceof tl.TlogError)) throw e;
    if (e.reason === 'quorum' && !required) {
      out.below = true; // stated beside the checks, not a failure of the bundle
      return out;
    }
    const code = { cosignature: 'witness-cosignature', quorum: 'witness-quorum', key: 'witness-key' }[e.reason] || 'witness-checkpoint';
    r.fail('witnesses', code, e.message);
  }
  return out;
}

function otherSignatureLines(note, name) {
  const at = note.lastIndexOf('\n\n');
  if (at < 0) return 0;
  return note
    .slice(at + 2)
    .split('\n')
    .filter((l) => l !== '' && !l.startsWith(`\u2014 ${name} `)).length;
}

async function checkChain(r, sorted, raw) {
  let before = null;
  for (const [i, e] of sorted) {
    const s = `entry ${i}`;
    if (i === 0) {
      if (e.prev.every((x) => x === 0)) r.pass(s, 'prev is 32 zero bytes: entry 0 starts the chain');
      else r.fail(s, 'chain-zero', `prev is ${b64encode(e.prev)}, not 32 zero bytes (entry 0 starts the chain)`);
    } else if (raw.has(i - 1)) {
      const want = await tl.leafHash(raw.get(i - 1));
      if (equalBytes(e.prev, want)) r.pass(s, `prev is the leaf hash of entry ${i - 1}`);
      else r.fail(s, 'chain-prev', `prev is ${b64encode(e.prev)}, not the leaf hash ${b64encode(want)} of entry ${i - 1}: the entries do not chain`);
    }
    if (before && e.time < before[1].time) {
      r.fail(s, 'time-backwards', `logged at ${timeText(e.time)}, before entry ${before[0]} (logged at ${timeText(before[1].time)}): the log's time never goes backwards`);
    }
    before = [i, e];
  }
}

// The registry's entries read with the log's rules (src/ledger/state.rs): each returns the
// fields or throws the refusal's words.
function refusal(field, expected) {
  return new Error(`field \`${field}\`: expected ${expected}`);
}
function strField(ev, name) {
  const v = ev[name];
  if (typeof v !== 'string' || v === '') throw refusal(`event.${name}`, 'a non-empty string');
  return v;
}
function keyField(ev, name) {
  const v = ev[name];
  const k = typeof v === 'string' ? isKey(v) : null;
  if (!k) throw refusal(`event.${name}`, 'base64 of a 32-byte Ed25519 public key');
  return [v, k];
}
function notWeak(k) {
  if (Point.fromBytes(k, true).isSmallOrder()) throw refusal('event.key', 'a key that is not weak (small order)');
}
function timeField(ev, name) {
  const v = strField(ev, name);
  try {
    return parseTime(v);
  } catch (e) {
    throw refusal(`event.${name}`, e.message.replace(/^expected /, ''));
  }
}
function keyAddition(ev) {
  const [key, k] = keyField(ev, 'key');
  const holder = strField(ev, 'holder');
  notWeak(k);
  return { key, holder };
}
function delegation(ev) {
  const [key, k] = keyField(ev, 'key');
  notWeak(k);
  const holder = strField(ev, 'holder');
  const label = strField(ev, 'label');
  const n = utf8Encode(label).length;
  if (n > MAX_LABEL) throw refusal('event.label', `at most ${MAX_LABEL} bytes (got ${n})`);
  const notAfter = timeField(ev, 'not_after');
  if ('person' in ev && !(typeof ev.person === 'string' && /^[0-9a-f]{64}$/.test(ev.person))) {
    throw refusal('event.person', 'the id of a registered person: 64 lower-case hex digits');
  }
  return { key, holder, notAfter };
}
function revocation(ev) {
  const [key] = keyField(ev, 'key');
  const effective = timeField(ev, 'effective');
  strField(ev, 'reason');
  return { key, effective };
}

function checkKeys(r, sorted, parsed, verifier) {
  const genesis = parsed.get(0);
  if (!genesis) {
    r.fail('registry', 'genesis-missing', "entry 0 (genesis, which names the log's key and the authority) is not in the bundle");
    return;
  }
  const g = genesis.event;
  const authority = typeof g.authority_key === 'string' && isKey(g.authority_key) ? g.authority_key : null;
  const ours = b64encode(verifier.key);
  const logKey = typeof g.log_key === 'string' ? g.log_key : null;
  if (genesis.type === 'log.genesis' && authority && logKey !== null && logKey !== ours) {
    r.fail('entry 0', 'genesis-log-key', `genesis names log key ${logKey}, not the given log key ${ours}`);
  } else if (genesis.type === 'log.genesis' && authority && logKey !== null && genesis.signers.length === 1 && genesis.signers[0] === authority) {
    if (g.log === verifier.name) r.pass('entry 0', `genesis of the log ${verifier.name} with the given key; authority ${authority}`);
    else {
      const named = typeof g.log === 'string' ? JSON.stringify(g.log) : '(none)';
      r.fail('entry 0', 'genesis-name', `genesis names the log ${named}, not ${JSON.stringify(verifier.name)} (the given key's name)`);
    }
  } else {
    r.fail('entry 0', 'genesis-not', 'not a genesis signed by the authority it names');
  }
  if (!authority) return;
  const byAuthority = (e) => e.signers.every((k) => k === authority);
  const byParty = (e) => (e.signers.length === 1 && e.signers[0] !== authority ? e.signers[0] : null);
  const added = new Map(); // key -> {at, holder}
  const revoked = new Map(); // key -> {eff, at}
  const parties = new Map(); // party -> at
  const delegated = new Map(); // key -> {at, holder, by, notAfter}
  for (const [i, e] of sorted) {
    const ev = e.event;
    const t = e.type;
    const partyRevocation = t === 'key.revoked' && byParty(e) !== null;
    if (['key.added', 'key.revoked', 'party.registered'].includes(t) && !byAuthority(e) && !partyRevocation) {
      r.fail(`entry ${i}`, 'registry-not-authority', `${t} is not signed by the authority`);
      continue;
    }
    const refused = (err) => r.fail(`entry ${i}`, 'registry-refused', `${t}: ${err.message}; the log refuses such an entry`);
    try {
      if (t === 'key.added') {
        const a = keyAddition(ev);
        if (added.has(a.key)) {
          r.fail(`entry ${i}`, 'registry-refused', `key.added: key ${a.key} is already added at entry ${added.get(a.key).at}; the log refuses such an entry`);
        } else added.set(a.key, { at: i, holder: a.holder });
      } else if (t === 'key.delegated') {
        const d = delegation(ev);
        if (added.has(d.key) || delegated.has(d.key)) {
          r.fail(`entry ${i}`, 'registry-refused', `key.delegated: key ${d.key} is already registered; the log refuses such an entry`);
        } else if (d.notAfter <= e.time) {
          r.fail(`entry ${i}`, 'registry-refused', `key.delegated: not_after ${timeText(d.notAfter)} is not after the entry's time ${timeText(e.time)}; the log refuses such an entry`);
        } else if (e.signers.length === 1) {
          delegated.set(d.key, { at: i, holder: d.holder, by: e.signers[0], notAfter: d.notAfter });
        } else {
          r.fail(`entry ${i}`, 'registry-refused', 'key.delegated: not signed by exactly one key; the log refuses such an entry');
        }
      } else if (t === 'key.revoked') {
        const v = revocation(ev);
        const dev = delegated.get(v.key);
        if (partyRevocation && !dev) {
          r.fail(`entry ${i}`, 'registry-refused', `key.revoked: of key ${v.key}, which has no key.delegated before it in the bundle, and not signed by the authority; the log refuses such an entry`);
        } else if (partyRevocation && added.get(byParty(e))?.holder !== dev.holder) {
          r.fail(`entry ${i}`, 'registry-refused', `key.revoked: of device key ${v.key} of ${dev.holder}, signed by a key that is neither the authority nor a party key of ${dev.holder} in the bundle; the log refuses such an entry`);
        } else if (!added.has(v.key) && !dev) {
          r.fail(`entry ${i}`, 'registry-refused', `key.revoked: key ${v.key} has no key.added before it in the bundle; the log refuses such an entry`);
        } else {
          const had = revoked.get(v.key);
          if (!had || v.effective < had.eff) revoked.set(v.key, { eff: v.effective, at: i });
        }
      } else if (t === 'party.registered') {
        if (typeof ev.party === 'string') parties.set(ev.party, i);
      }
    } catch (err) {
      refused(err);
    }
  }
  const checked = new Set();
  for (const [i, e] of sorted) {
    if (i === 0) continue;
    const s = `entry ${i}`;
    let fine = true;
    const used = [];
    for (const k of e.signers) {
      if (k === authority) {
        used.push('the authority (entry 0)');
        continue;
      }
      const device = delegated.get(k);
      const found = added.get(k) || (device ? { at: device.at, holder: device.holder } : null);
      if (!found) {
        fine = false;
        r.fail(s, 'key-unregistered', `key ${k} has no key.added entry in the bundle`);
        continue;
      }
      const a = found.at;
      if (device && device.notAfter <= e.time) {
        fine = false;
        r.fail(s, 'device-expired', `device key ${k} used at ${timeText(e.time)} on or after its not_after ${timeText(device.notAfter)} (entry ${a})`);
        continue;
      }
      if (a >= i) {
        fine = false;
        r.fail(s, 'key-before-registration', `key ${k} used before it was registered (entry ${a})`);
        continue;
      }
      const rv = revoked.get(k);
      if (rv && rv.eff <= e.time) {
        fine = false;
        r.fail(s, 'key-revoked', `key ${k} used at ${timeText(e.time)} on or after its revocation effective ${timeText(rv.eff)} (entry ${rv.at})`);
        continue;
      }
      if (device && !checked.has(`chain ${k}`)) {
        checked.add(`chain ${k}`);
        const why = delegationChain(parsed, added, revoked, authority, a, found.holder, device.by);
        if (why) {
          fine = false;
          r.fail(s, 'delegation-chain', `device key ${k}: ${why}`);
          continue;
        }
      }
      if (!checked.has(k)) {
        checked.add(k);
        const p = parties.get(found.holder);
        if (!(p !== undefined && p < a)) {
          r.fail(`entry ${a}`, 'key-holder-unregistered', `key ${k} is added for ${JSON.stringify(found.holder)}, which has no party.registered entry before it in the bundle`);
        }
      }
      if (device && device.by === authority) used.push(`device key ${k} of ${found.holder} (entry ${a}), delegated by the authority`);
      else if (device) used.push(`device key ${k} of ${found.holder} (entry ${a}), delegated by party key ${device.by} (entry ${added.get(device.by)?.at ?? 0})`);
      else used.push(`${k} of ${found.holder} (entry ${a})`);
    }
    if (fine) r.pass(s, `signer keys registered before use and not revoked at ${timeText(e.time)}: ${used.join(', ')}`);
  }
}

function delegationChain(parsed, added, revoked, authority, at, holder, by) {
  if (by === authority) return null;
  const time = parsed.get(at).time;
  const party = added.get(by);
  if (!party) {
    return `its key.delegated (entry ${at}) is signed by ${by}, which has no key.added entry in the bundle (a device key delegates nothing; the chain is authority → party key → device key)`;
  }
  if (party.at >= at) return `its key.delegated (entry ${at}) is signed by ${by} before that key was added (entry ${party.at})`;
  if (party.holder !== holder) return `its key.delegated (entry ${at}) is for ${holder} but signed by ${by}, a party key of ${party.holder}`;
  const rv = revoked.get(by);
  if (rv && rv.eff <= time) {
    return `its key.delegated (entry ${at}, at ${timeText(time)}) is signed by ${by}, revoked effective ${timeText(rv.eff)} (entry ${rv.at})`;
  }
  return null;
}

// serde_json's compact form of a JSON value (as `{v}` prints it in the Rust verifier).
const jsonText = (v) => (v === undefined ? 'null' : JSON.stringify(v));

function checkExport(r, b, parsed) {
  const x = b.export;
  const e = parsed.get(x.index);
  if (!e) {
    r.fail('export', 'export-missing', `entry ${x.index} (the export) is not in the bundle`);
    return;
  }
  if (e.type !== 'evidence.exported') {
    r.fail('export', 'export-type', `entry ${x.index} is a ${e.type}, not evidence.exported`);
    return;
  }
  const ev = e.event;
  const g = parsed.get(0);
  const authority = g && typeof g.event.authority_key === 'string' ? g.event.authority_key : null;
  const holderOf = (k) => {
    for (const [, a] of [...parsed.entries()].sort((p, q) => p[0] - q[0])) {
      if ((a.type === 'key.added' || a.type === 'key.delegated') && a.event.key === k) {
        return typeof a.event.holder === 'string' ? a.event.holder : null;
      }
    }
    return null;
  };
  for (const k of e.signers) {
    if (k === authority) continue;
    const h = holderOf(k);
    if (h !== null && h !== x.by) r.fail('export', 'export-signer', `entry ${x.index} is signed by key ${k} of ${h}, not of ${x.by} whom it names`);
  }
  const want = { at: timeText(parseTime(x.at)), by: x.by, case: x.case, manifests: x.manifests, query: x.query ?? null, reason: x.reason };
  let same = true;
  for (const k of Object.keys(want).sort()) {
    const v = want[k];
    const got = k in ev ? ev[k] : null;
    let equal;
    if (k === 'at' && typeof got === 'string') {
      let a = null;
      try {
        a = parseTime(got);
      } catch (err) {
        a = null;
      }
      equal = a === parseTime(x.at);
    } else {
      equal = jsonText(got) === jsonText(v);
    }
    if (!equal) {
      same = false;
      r.fail('export', 'export-header', `the bundle's header says ${k} = ${jsonText(v)}, entry ${x.index} says ${jsonText(got)}`);
    }
  }
  if (e.time !== parseTime(x.time)) {
    same = false;
    r.fail('export', 'export-header', `the bundle's header says it was logged at ${timeText(parseTime(x.time))}, entry ${x.index} at ${timeText(e.time)}`);
  }
  if (same) {
    r.pass('export', `entry ${x.index} records that ${x.by} pulled case ${JSON.stringify(x.case)} (${x.manifests.length} manifest(s)) at ${timeText(e.time)}`);
  }
  const listed = [...new Set(b.manifests.map((m) => m.number))].sort();
  for (const n of x.manifests) {
    if (!listed.includes(n)) r.fail('export', 'export-selection', `manifest ${n} is selected but the bundle lists no entries for it`);
  }
  for (const n of listed) {
    if (!x.manifests.includes(n)) r.fail('export', 'export-selection', `manifest ${n} is in the bundle but not in the selection`);
  }
}

function namedManifests(ev) {
  const out = [];
  for (const k of ['manifest', 'input']) if (typeof ev[k] === 'string') out.push(ev[k]);
  if (Array.isArray(ev.inputs)) out.push(...ev.inputs.filter((x) => typeof x === 'string'));
  return out;
}

function checkManifests(r, b, parsed) {
  const seen = new Set();
  for (const m of b.manifests) {
    const s = `manifest ${m.number}`;
    let fine = true;
    if (seen.has(m.number)) {
      fine = false;
      r.fail(s, 'manifest-twice', 'listed more than once in `manifests`');
    }
    seen.add(m.number);
    for (let j = 1; j < m.entries.length; j++) {
      if (m.entries[j - 1] >= m.entries[j]) {
        fine = false;
        r.fail(s, 'manifest-order', `its entries are not in strictly ascending order: ${m.entries[j]} is listed after ${m.entries[j - 1]}`);
        break;
      }
    }
    if (!m.entries.includes(m.created_by)) {
      fine = false;
      r.fail(s, 'manifest-creator', `its creating entry ${m.created_by} is not among its entries`);
    }
    const kinds = [];
    for (const i of m.entries) {
      const e = parsed.get(i);
      if (!e) {
        fine = false;
        r.fail(s, 'manifest-entry-missing', `entry ${i} is listed but not (readable) in the bundle`);
        continue;
      }
      kinds.push(`${i} ${e.type}`);
      if (i === m.created_by) {
        if (!CREATING.includes(e.type)) {
          fine = false;
          r.fail(s, 'manifest-creator', `entry ${i} is a ${e.type}, which creates no manifest`);
        }
        continue;
      }
      if (!namedManifests(e.event).includes(m.number)) {
        fine = false;
        r.fail(`entry ${i}`, 'manifest-unnamed', `listed under manifest ${m.number} but its event does not name it`);
      }
    }
    if (fine) {
      r.pass(s, `${m.entries.length} entries, each in the bundle and naming it (created by entry ${m.created_by}): ${kinds.join('; ')}`);
    }
  }
}
