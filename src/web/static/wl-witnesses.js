// wl-witnesses.js: the witnesses' cosignatures as the console shows them (the timeline, the
// audit page, the bundle check and the cases page): each witness named with its key id and its
// cosignature verified in this browser (green, with the time it signed, in CST), failing (red,
// with the reason) or absent; and the k-of-n line with the quorum stated. The checks
// themselves are wl-tlog.js's (cosigners, pinnedWitnesses); this module only words them.
//
// Exports:
//   witnessItems(list) -> [HTMLLIElement]   one per witness of wl-tlog.js cosigners' `witnesses`:
//        class `witness ok|bad|none`, data-witness (name), data-state, data-code (the reason)
//   witnessSummary(list, k) -> {state: 'ok'|'bad'|'none', text}   "k of n cosigned (quorum k)"
//   pinWarning(pin) -> string | null        the words when the server names other witnesses
//        than the ones pinned in this browser (wl-tlog.js pinnedWitnesses `changed`)
//   witnessBlock(w, lineCount) -> HTMLElement   a bundle's witnesses (wl-bundle.js verifyBundle's
//        `witnesses`), or, with none pinned, that its `lineCount` cosignature lines are only
//        counted

import { t } from './wl-app.js';
import { cst } from './wl-format.js';

const BAD = {
  signature: () => t('签名与此检查点不符：检查点或联署被改动，或联署的是另一个检查点', 'the signature does not match this checkpoint: the checkpoint or the cosignature was altered, or it cosigns another checkpoint'),
  length: () => t('联署不是 76 字节（密钥编号、时间、签名）', 'the cosignature is not 76 bytes (key id, time, signature)'),
  time: () => t('联署时间超出范围（不小于 2^63）', 'the cosignature time is out of range (2^63 or more)'),
};

export function witnessItems(list) {
  return list.map((w) => {
    const li = document.createElement('li');
    li.className = `witness ${w.state}`;
    li.dataset.witness = w.name;
    li.dataset.state = w.state;
    li.dataset.code = w.code || '';
    const badge = document.createElement('span');
    badge.className = `badge ${w.state === 'none' ? 'warn' : w.state}`;
    badge.textContent = w.state === 'ok' ? t('✓ 联署有效', '✓ cosigned') : w.state === 'bad' ? t('✗ 联署不成立', '✗ fails') : t('未联署', 'not cosigned');
    const name = document.createElement('b');
    name.className = 'mono';
    name.dataset.raw = '';
    name.textContent = w.name;
    const id = document.createElement('span');
    id.className = 'muted small';
    id.textContent = ` · ${t('密钥编号', 'key id')} ${w.keyIdHex}`;
    const what = document.createElement('div');
    what.className = 'small';
    if (w.state === 'ok') what.textContent = t(`本浏览器已核验其 Ed25519 联署；签于 ${cst(w.time * 1000)}`, `Its Ed25519 cosignature verified in this browser; signed ${cst(w.time * 1000)}`);
    else if (w.state === 'bad') what.textContent = (BAD[w.code] || BAD.signature)();
    else if (w.code === 'other_key_id') what.textContent = t('有一行用它的名字，但密钥编号不同：不是本机固定的这个见证人，不计入', 'a line bears its name with another key id: not the witness pinned here, not counted');
    else what.textContent = t('此检查点上没有它的联署', 'no cosignature of it on this checkpoint');
    li.append(badge, ' ', name, id, what);
    if (w.message && w.state === 'bad') {
      const d = document.createElement('small');
      d.className = 'muted detail';
      d.lang = 'en';
      d.dataset.raw = '';
      d.textContent = w.message;
      li.append(d);
    }
    return li;
  });
}

export function witnessSummary(list, k) {
  const n = list.length;
  const valid = list.filter((w) => w.state === 'ok').length;
  const bad = list.filter((w) => w.state === 'bad').length;
  const head = t(`${valid}/${n} 个见证人联署（法定数 ${k}）`, `${valid} of ${n} witnesses cosigned (quorum ${k})`);
  if (bad) return { state: 'bad', text: `${head}${t(`；${bad} 个联署不成立`, `; ${bad} cosignature(s) fail`)}` };
  if (valid < k) return { state: 'none', text: `${head}${t('；未达法定数', '; below the quorum')}` };
  return { state: 'ok', text: head };
}

export function pinWarning(pin) {
  if (!pin.changed) return null;
  return t('警告：服务器现在列出的见证人与本机固定的不同；仍按本机固定的见证人核验', 'Warning: the server now names other witnesses than the ones pinned in this browser; checked against the pinned ones');
}

export function witnessBlock(w, lineCount) {
  const box = document.createElement('div');
  box.id = 'bundle-witnesses';
  const p = document.createElement('p');
  p.id = 'bundle-witness-state';
  if (!w) {
    p.className = 'state pending';
    p.dataset.state = 'none';
    p.textContent = t(`本浏览器未固定见证人：检查点上的 ${lineCount} 行联署只计数，不核验`, `No witnesses are pinned in this browser: the checkpoint's ${lineCount} cosignature line(s) are counted, not checked`);
    box.append(p);
    return box;
  }
  const s = witnessSummary(w.list, w.quorum);
  p.className = `state ${s.state === 'none' ? 'pending' : s.state}`;
  p.dataset.state = s.state;
  p.textContent = t(`见证人联署：${s.text}`, `Witnesses: ${s.text}`)
    + (s.state === 'none' ? t('。见证人联署后，可在“案件与证据包”重新获取此证据包', '. Fetch the bundle again on the cases page once the witnesses have cosigned') : '');
  const ul = document.createElement('ul');
  ul.className = 'list witnesses';
  ul.append(...witnessItems(w.list));
  box.append(p, ul);
  return box;
}
