// page-audit.js: the log audit page (/app/audit), checked in the browser with wl-tlog.js:
//   - the log's checkpoint (GET /v1/log/checkpoint) signed by the log key pinned in this browser;
//   - consistency with the checkpoint this browser saw last time (kept in localStorage
//     `wl_audit_checkpoint`, the signed note itself): a consistency proof
//     (GET /v1/log/proof/consistency) from that size to now. A smaller size (a roll-back), a
//     proof that fails (a fork: another history under the same key), or a kept note the pinned
//     key did not sign shows red with both checkpoints. The kept checkpoint moves forward only
//     when the new one is consistent with it, so the alarm stays until someone looks;
//   - the witnesses pinned in this browser (wl-tlog.js pinnedWitnesses: kept from the first
//     time the log named them; a server naming others is shown red) and their latest
//     cosignatures on the newest checkpoint any of them cosigned
//     (GET /v1/log/checkpoint/cosigned?quorum=1), each verified (wl-witnesses.js shows them),
//     k of n against the quorum ⌊n/2⌋+1; the time each signed, in CST.
// `data-state` = ok | bad | none on #audit-checkpoint, #audit-consistency, #audit-witnesses.
//
// Exports: none (runs on load).

import { t } from './wl-app.js';
import * as tl from './wl-tlog.js';
import { cst } from './wl-format.js';
import { hexEncode } from './wl-util.js';
import { pinWarning, witnessItems, witnessSummary } from './wl-witnesses.js';

const KEPT = 'wl_audit_checkpoint';

function state(id, s, text) {
  const el = document.getElementById(id);
  el.className = `state ${s === 'ok' ? 'ok' : s === 'bad' ? 'bad' : 'pending'}`;
  el.dataset.state = s;
  el.textContent = text;
}

function row(dl, k, v, mono = false) {
  const dt = document.createElement('dt');
  dt.textContent = k;
  const dd = document.createElement('dd');
  dd.textContent = v;
  if (mono) {
    dd.className = 'mono';
    dd.dataset.raw = '';
  }
  dl.append(dt, dd);
}

async function consistency(pinKey, now) {
  const keptNote = localStorage.getItem(KEPT);
  const showBoth = () => {
    document.getElementById('audit-before').textContent = keptNote;
    document.getElementById('audit-after').textContent = now.note;
    document.getElementById('audit-both').hidden = false;
  };
  if (!keptNote) {
    localStorage.setItem(KEPT, now.note);
    state('audit-consistency', 'none', t(`本浏览器第一次审计此日志：已记下当前检查点（${now.size} 条），下次将核验日志是否与它一致`,
      `This browser audits this log for the first time: the checkpoint (${now.size} entries) is kept, and next time the log must be consistent with it`));
    return;
  }
  let before;
  try {
    before = await tl.openCheckpoint(keptNote, pinKey);
  } catch (e) {
    showBoth();
    state('audit-consistency', 'bad', t(`上次记下的检查点不是本机固定的日志公钥签发的：${e.message}`, `The checkpoint kept last time is not signed by the pinned log key: ${e.message}`));
    return;
  }
  try {
    if (before.size > now.size) {
      throw new tl.TlogError('consistency', `size ${before.size} seen before, ${now.size} now`);
    }
    let hashes = [];
    if (before.size !== now.size && before.size !== 0n) {
      const r = await fetch(`/v1/log/proof/consistency?from=${before.size}&to=${now.size}`, { cache: 'no-store' });
      if (!r.ok) throw new tl.TlogError('consistency', `the log gives no consistency proof from ${before.size} to ${now.size} (HTTP ${r.status})`);
      hashes = (await r.json()).hashes;
    }
    await tl.verifyConsistency(before.size, now.size, hashes, before.root, now.root);
  } catch (e) {
    showBoth();
    const rolled = before.size > now.size;
    state('audit-consistency', 'bad', rolled
      ? t(`日志回滚了：本浏览器上次看到 ${before.size} 条，现在只有 ${now.size} 条`, `The log rolled back: this browser saw ${before.size} entries, now there are ${now.size}`)
      : t(`日志与本浏览器上次看到的历史不一致（分叉）：从 ${before.size} 条到 ${now.size} 条的一致性证明不成立`, `The log is not consistent with the history this browser saw (a fork): the consistency proof from ${before.size} to ${now.size} entries fails`));
    return;
  }
  localStorage.setItem(KEPT, now.note);
  state('audit-consistency', 'ok', t(`一致：上次看到 ${before.size} 条，现在 ${now.size} 条，一致性证明在本浏览器核验通过`,
    `Consistent: ${before.size} entries seen last time, ${now.size} now; the consistency proof verified in this browser`));
}

async function witnesses(pinKey, now) {
  const list = document.getElementById('audit-witness-list');
  const pin = await tl.pinnedWitnesses();
  const warn = pinWarning(pin);
  if (!pin.keys.length) {
    state('audit-witnesses', 'none', t('此日志未配置见证人', 'This log names no witnesses'));
    return;
  }
  const k = tl.quorumOf(pin.keys.length);
  const cr = await fetch('/v1/log/checkpoint/cosigned?quorum=1', { cache: 'no-store' });
  let found;
  let size = null;
  if (cr.ok) {
    found = await tl.cosignatures(await cr.text(), pinKey, pin.keys);
    size = found.checkpoint.size;
  } else {
    found = await tl.cosignatures(now.note, pinKey, pin.keys);
  }
  list.replaceChildren(...witnessItems(found.witnesses));
  const s = witnessSummary(found.witnesses, k);
  const text = [size === null
    ? t(`${s.text}：尚无见证人联署的检查点`, `${s.text}: no checkpoint is cosigned yet`)
    : t(`${s.text}，联署的是前 ${size} 条的检查点`, `${s.text}, on the checkpoint of the first ${size} entries`), warn].filter(Boolean).join('；');
  state('audit-witnesses', warn ? 'bad' : s.state, text);
}

async function main() {
  let pin;
  let now;
  try {
    pin = await tl.pinnedLogKey();
    const r = await fetch('/v1/log/checkpoint', { cache: 'no-store' });
    now = await tl.openCheckpoint(await r.text(), pin.key);
  } catch (e) {
    state('audit-checkpoint', 'bad', t(`日志检查点核验失败：${e.message}`, `The log's checkpoint fails: ${e.message}`));
    document.body.dataset.checked = 'yes';
    return;
  }
  const log = await tl.parseKey(pin.key, 0x01);
  state('audit-checkpoint', pin.changed ? 'bad' : 'ok', pin.changed
    ? t('服务器现在给出的日志公钥与本机固定的不同', 'The server now gives a log key other than the one pinned here')
    : t('检查点签名有效（对照本机固定的日志公钥）', 'Checkpoint signature valid (against the log key pinned in this browser)'));
  const dl = document.getElementById('audit-now');
  row(dl, t('日志', 'Log'), now.origin, true);
  row(dl, t('条目数', 'Entries'), String(now.size));
  row(dl, t('根哈希', 'Root hash'), hexEncode(now.root), true);
  row(dl, t('日志公钥编号', 'Log key id'), log.keyIdHex, true);
  try {
    await consistency(pin.key, now);
  } catch (e) {
    state('audit-consistency', 'bad', e.message);
  }
  try {
    await witnesses(pin.key, now);
  } catch (e) {
    state('audit-witnesses', 'bad', e.message);
  }
  document.body.dataset.checked = 'yes';
}

main();
