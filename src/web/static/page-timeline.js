// page-timeline.js: the manifest timeline (/app/m/{number}/timeline). Each event row names its
// log entry (`data-index`) and the keys the server says signed it (`data-keys`); this script
// checks every one in the browser, with wl-tlog.js:
//   1. the log's checkpoint (GET /v1/log/checkpoint) is signed by the log key pinned in this
//      browser (wl-tlog.js pinnedLogKey);
//   2. where the log has witnesses: the ones pinned in this browser (wl-tlog.js
//      pinnedWitnesses: kept from the first time the log named them, like the log key; the
//      server's list is not a trust root), the newest checkpoint the log serves with a majority
//      of their cosignatures (k of n, k = ⌊n/2⌋+1; else the newest with any), each witness's
//      cosignature verified and shown (#tl-witness-list: green, red with the reason, or
//      absent), `#tl-witnesses` data-state ok | bad | none, and the checkpoint in 1 consistent
//      with the cosigned one (a consistency proof);
//   3. per event: the entry's bytes (GET /v1/log/entries/{i}, a signed request: a session may
//      not read entries) are canonical and are entry i; each Ed25519 signature verifies over
//      the event (wasteledger/v1/event context, canonical JSON, as src/ledger/event.rs) and the
//      signers are the ones the page names; SHA-256(0x00 ‖ bytes) with its inclusion proof
//      (GET /v1/log/proof/inclusion) leads to the checkpoint's root.
// A row turns green listing what was checked, or red with every reason it failed
// (`data-state` = ok | bad, `data-reasons` the reason codes).
//
// Exports: none (runs on load).

import { t, signedRequest } from './wl-app.js';
import * as tl from './wl-tlog.js';
import { pinWarning, witnessItems, witnessSummary } from './wl-witnesses.js';
import { parseCanonical } from './wl-canon.js';
import { eventSigningMessage } from './wl-sign.js';
import { verifyStrict } from './wl-ed25519.js';
import { b64decode } from './wl-util.js';

const REASON = {
  fetch: () => t('无法读取日志条目', 'the entry could not be read'),
  canonical: () => t('条目字节不是规范的 JSON（被改动过）', 'the entry\'s bytes are not canonical JSON (altered)'),
  index: () => t('服务器给出的是另一条目', 'the server answered another entry'),
  signature: () => t('事件签名不成立（内容被改动或伪造）', 'an event signature does not verify (altered or forged)'),
  signers: () => t('签名密钥与页面所列签名人不符', 'the signing keys are not the ones the page names'),
  proof: () => t('包含证明不能从该条目的哈希推到已签名检查点的根：条目被改动，或不在此日志中', 'the inclusion proof does not lead from this entry\'s hash to the signed checkpoint\'s root: the entry was altered, or is not in this log'),
  checkpoint: () => t('日志检查点的签名不成立', 'the log\'s checkpoint signature does not verify'),
};

function mark(el, ok, text, reasons = []) {
  el.className = `state ${ok ? 'ok' : 'bad'} tl-check`;
  el.dataset.state = ok ? 'ok' : 'bad';
  el.dataset.reasons = reasons.join(' ');
  el.textContent = text;
}

async function checkpointState() {
  const head = document.getElementById('tl-checkpoint');
  const pin = await tl.pinnedLogKey();
  const r = await fetch('/v1/log/checkpoint', { cache: 'no-store' });
  const cp = await tl.openCheckpoint(await r.text(), pin.key);
  const parts = [t(`日志检查点：共 ${cp.size} 条，签名有效（对照本机固定的日志公钥）`,
    `Log checkpoint: ${cp.size} entries, signature valid (against the log key pinned in this browser)`)];
  const ok = !pin.changed;
  if (pin.changed) parts.push(t('警告：服务器现在给出的日志公钥与本机固定的不同', 'Warning: the server now gives a log key other than the one pinned here'));
  head.className = `state ${ok ? 'ok' : 'bad'}`;
  head.dataset.state = ok ? 'ok' : 'bad';
  head.textContent = parts.join('；');
  let witnessed = null;
  try {
    witnessed = await witnessState(pin.key, cp);
  } catch (e) {
    witnessMark('bad', t(`见证联署核验失败：${e.message}`, `Witness cosignatures fail: ${e.message}`));
  }
  return { cp, witnessed };
}

function witnessMark(state, text) {
  const el = document.getElementById('tl-witnesses');
  el.className = `state ${state === 'none' ? 'pending' : state}`;
  el.dataset.state = state;
  el.textContent = text;
}

/// The witnesses pinned in this browser (wl-tlog.js pinnedWitnesses, the same rule as the log
/// key): the newest checkpoint the log serves with a quorum of their cosignatures (else with
/// any), each witness's cosignature verified, and that checkpoint consistent with `cp`.
/// Returns {size, k, n} when a quorum holds, else null.
async function witnessState(logKey, cp) {
  const pin = await tl.pinnedWitnesses();
  if (!pin.keys.length) return null;
  document.getElementById('tl-witnesses-box').hidden = false;
  const n = pin.keys.length;
  const k = tl.quorumOf(n);
  const offered = pin.server ? pin.server.length : 0;
  let note = null;
  for (const q of new Set([Math.min(k, offered), 1])) {
    if (q < 1 || q > offered) continue;
    const r = await fetch(`/v1/log/checkpoint/cosigned?quorum=${q}`, { cache: 'no-store' });
    if (r.ok) {
      note = await r.text();
      break;
    }
  }
  const warn = pinWarning(pin);
  if (note === null) {
    witnessMark(warn ? 'bad' : 'none', [t(`尚无见证人联署的检查点（需 ${k}/${n} 个见证人）`, `No checkpoint is cosigned by the witnesses yet (${k} of ${n} needed)`), warn].filter(Boolean).join('；'));
    return null;
  }
  const found = await tl.cosignatures(note, logKey, pin.keys);
  document.getElementById('tl-witness-list').replaceChildren(...witnessItems(found.witnesses));
  const s = witnessSummary(found.witnesses, k);
  const from = found.checkpoint.size;
  const parts = [t(`见证：${s.text}，联署的是前 ${from} 条的检查点`, `Witnessed: ${s.text}, on the checkpoint of the first ${from} entries`)];
  let state = s.state;
  if (state !== 'bad') {
    try {
      let hashes = [];
      if (from !== cp.size && from !== 0n) {
        const pr = await fetch(`/v1/log/proof/consistency?from=${from}&to=${cp.size}`, { cache: 'no-store' });
        hashes = (await pr.json()).hashes;
      }
      await tl.verifyConsistency(from, cp.size, hashes, found.checkpoint.root, cp.root);
      parts.push(t('与当前检查点一致（一致性证明已在本浏览器核验）', 'consistent with the current checkpoint (consistency proof verified in this browser)'));
    } catch (e) {
      state = 'bad';
      parts.push(t(`与当前检查点不一致：${e.message}`, `not consistent with the current checkpoint: ${e.message}`));
    }
  }
  if (warn) {
    state = 'bad';
    parts.push(warn);
  }
  witnessMark(state, parts.join('；'));
  return state === 'ok' ? { size: from, k: found.valid.length, n } : null;
}

async function checkEvent(row, cp, witnessed) {
  const el = row.querySelector('.tl-check');
  const index = Number(row.dataset.index);
  const claimed = (row.dataset.keys || '').split(' ').filter(Boolean);
  const reasons = [];
  const r = await signedRequest('GET', `/v1/log/entries/${index}`, null, { as: 'bytes' });
  if (!r.ok || !r.body) {
    mark(el, false, `✗ ${REASON.fetch()}（HTTP ${r.status}）`, ['fetch']);
    return;
  }
  const bytes = r.body;
  let sigCount = 0;
  try {
    const entry = parseCanonical(bytes);
    if (entry.index !== index) reasons.push('index');
    const msg = eventSigningMessage(entry.event);
    const keys = [];
    for (const s of entry.signatures) {
      keys.push(s.key);
      if (await verifyStrict(b64decode(s.key), msg, b64decode(s.sig))) sigCount += 1;
      else if (!reasons.includes('signature')) reasons.push('signature');
    }
    if (keys.length === 0) reasons.push('signature');
    if (keys.join(' ') !== claimed.join(' ')) reasons.push('signers');
  } catch (_) {
    reasons.push('canonical');
  }
  try {
    const pr = await fetch(`/v1/log/proof/inclusion?index=${index}&size=${cp.size}`, { cache: 'no-store' });
    const p = await pr.json();
    await tl.verifyInclusion(index, cp.size, await tl.leafHash(bytes), p.hashes, cp.root);
  } catch (_) {
    reasons.push('proof');
  }
  if (reasons.length) {
    mark(el, false, `✗ ${t('核验失败', 'Check failed')}：${reasons.map((x) => REASON[x]()).join('；')}`, reasons);
    return;
  }
  const w = witnessed && BigInt(index) < witnessed.size
    ? t(`；已被 ${witnessed.k}/${witnessed.n} 个见证人联署`, `; witnessed by ${witnessed.k} of ${witnessed.n}`)
    : '';
  mark(el, true, `✓ ${t(`已在本浏览器核验：${sigCount} 个签名、叶哈希、到检查点（${cp.size} 条）的包含证明、日志签名`,
    `Verified in this browser: ${sigCount} signature(s), leaf hash, inclusion proof to the checkpoint (${cp.size} entries), log signature`)}${w}`);
}

async function main() {
  const rows = [...document.querySelectorAll('.tl-event')];
  let state;
  try {
    state = await checkpointState();
  } catch (e) {
    const head = document.getElementById('tl-checkpoint');
    head.className = 'state bad';
    head.dataset.state = 'bad';
    head.textContent = `${REASON.checkpoint()}：${e.message}`;
    for (const row of rows) mark(row.querySelector('.tl-check'), false, `✗ ${REASON.checkpoint()}`, ['checkpoint']);
    return;
  }
  for (const row of rows) {
    try {
      await checkEvent(row, state.cp, state.witnessed);
    } catch (e) {
      mark(row.querySelector('.tl-check'), false, `✗ ${e.message}`, ['error']);
    }
  }
  document.body.dataset.checked = 'yes';
}

main();
