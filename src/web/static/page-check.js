// page-check.js: /app/check, a case bundle checked entirely in this browser. The file is read
// with FileReader (dropped or chosen; never uploaded), checked by wl-bundle.js against the log
// key pinned in the page (`words.log_key`, the server's own key written into the page, which the
// offline worker keeps) and the witnesses pinned in this browser (wl-tlog.js pinnedWitnesses:
// their cosignatures on the bundle's checkpoint, k of n with k = ⌊n/2⌋+1, each shown), and
// every check is listed green or red with its reason in the page's language and the
// verifier's own English sentence. Works with no network at all.
//
// Exports (page-cases.js shows a pulled bundle the same way):
//   pageWords() -> the page's words (<script id="words">)
//   el(tag, props, ...children) -> HTMLElement   a small element builder
//   showResult(root, result, fileBytes) -> Promise   the verdict, the case in words, every check
//   pagesWitnesses() -> Promise<{keys} | null>   the witnesses pinned in this browser, for
//        verifyBundle (none pinned: null, the cosignature lines are only counted)
//   caseSummary(result, fileBytes, words) -> Promise<HTMLElement>   the case in words for people
//        (the pull, each manifest's entries with time, event, signers), with the file's SHA-256

import { t } from './wl-app.js';
import { verifyBundle, reasonWords } from './wl-bundle.js';
import { cst, quantity } from './wl-format.js';
import { hexEncode, sha256 } from './wl-util.js';
import { pinnedWitnesses } from './wl-tlog.js';
import { witnessBlock } from './wl-witnesses.js';

export function pageWords() {
  const el = document.getElementById('words');
  try {
    return el ? JSON.parse(el.textContent) : {};
  } catch (_) {
    return {};
  }
}

export const el = (tag, { dataset, ...props } = {}, ...kids) => {
  const e = document.createElement(tag);
  Object.assign(e, props);
  Object.assign(e.dataset, dataset || {});
  e.append(...kids.filter((k) => k !== null && k !== undefined));
  return e;
};

/// What a subject is, in words: 'entry 17' → 第 17 条记录.
function subjectWords(s) {
  let m = /^entry (\d+)$/.exec(s);
  if (m) return t(`第 ${m[1]} 条记录`, `Entry ${m[1]}`);
  m = /^manifest (\d+)$/.exec(s);
  if (m) return t(`联单 ${m[1]}`, `Manifest ${m[1]}`);
  return (
    {
      bundle: t('文件格式', 'File format'),
      'log key': t('日志公钥', 'Log key'),
      checkpoint: t('日志检查点', 'Log checkpoint'),
      registry: t('登记', 'Registry'),
      export: t('调取记录', 'The pull'),
      witnesses: t('见证人联署', 'Witness cosignatures'),
    }[s] || s
  );
}

/// Names from the bundle's own entries: party → name, key → holder, and the authority's key.
function namesOf(result) {
  const parties = new Map();
  const holders = new Map();
  let authority = null;
  for (const e of result.entries.values()) {
    if (e.type === 'party.registered') parties.set(e.event.party, e.event.name);
    if (e.type === 'key.added' || e.type === 'key.delegated') holders.set(e.event.key, e.event.holder);
    if (e.type === 'log.genesis') authority = e.event.authority_key;
  }
  const party = (id) => (parties.has(id) ? `${parties.get(id)}（${id}）` : id);
  const signer = (k) => {
    if (k === authority) return t('主管部门', 'the authority');
    return holders.has(k) ? party(holders.get(k)) : t('未登记的密钥', 'a key not registered in the bundle');
  };
  return { party, signer };
}

/// An event's own fields in words (the ones people look for), each a short phrase.
function eventWords(ev, party) {
  const out = [];
  if (ev.from && ev.to) out.push(`${party(ev.from)} → ${party(ev.to)}`);
  if (ev.generator) out.push(`${t('产生单位', 'generator')} ${party(ev.generator)}`);
  if (ev.vehicle) out.push(`${t('车辆', 'vehicle')} ${ev.vehicle}`);
  if (ev.destination) out.push(`${t('去向', 'destination')} ${ev.destination}`);
  if (Array.isArray(ev.lines)) {
    const q = ev.lines
      .map((l) => quantity(l.quantity || l.accepted || l.counted))
      .filter(Boolean);
    if (q.length) out.push(`${t('数量', 'quantities')} ${q.join('、')}`);
  }
  if (ev.verdict) out.push(`${t('检查结论', 'verdict')} ${ev.verdict}`);
  if (ev.findings) out.push(ev.findings);
  if (ev.case) out.push(`${t('案件', 'case')} ${ev.case}`);
  if (ev.reason) out.push(`${t('理由', 'reason')} ${ev.reason}`);
  if (ev.at) out.push(`${t('当事方所述时间', 'stated time')} ${cst(ev.at)}`);
  return out.join('；');
}

export async function caseSummary(result, fileBytes, words) {
  const w = (words && words.i18n) || {};
  const b = result.bundle;
  const { party, signer } = namesOf(result);
  const eventName = (type) => (w.event || {})[type] || t('其他记录', 'another record');
  const box = el('div', { className: 'case-text' });
  const x = b.export;
  box.append(
    el('h2', { textContent: t(`案件 ${x.case}：证据包摘要`, `Case ${x.case}: the bundle in words`) }),
    el(
      'dl',
      { className: 'kv' },
      el('dt', { textContent: t('调取理由', 'Reason') }),
      el('dd', { textContent: x.reason }),
      el('dt', { textContent: t('调取单位', 'Pulled by') }),
      el('dd', { textContent: party(x.by) }),
      el('dt', { textContent: t('记入日志', 'Logged') }),
      el('dd', { textContent: `${cst(x.time)} · ${t('第', 'entry ')}${x.index}${t(' 条', '')}` }),
      el('dt', { textContent: t('联单', 'Manifests') }),
      el('dd', { textContent: x.manifests.join('、') }),
      el('dt', { textContent: t('检查点', 'Checkpoint') }),
      el('dd', { textContent: result.checkpoint ? t(`日志共 ${result.checkpoint.size} 条`, `${result.checkpoint.size} entries in the log`) : t('未通过核验', 'does not verify') }),
      el('dt', { textContent: t('文件 SHA-256', 'File SHA-256') }),
      el('dd', { className: 'mono hash', textContent: hexEncode(await sha256(fileBytes)) }),
    ),
  );
  for (const m of b.manifests) {
    const table = el('table', { className: 'entries' });
    table.append(
      el(
        'tr',
        {},
        el('th', { textContent: t('序号', 'Entry') }),
        el('th', { textContent: t('时间', 'Logged') }),
        el('th', { textContent: t('记录', 'Record') }),
        el('th', { textContent: t('签名方', 'Signed by') }),
        el('th', { textContent: t('内容', 'What it says') }),
      ),
    );
    for (const i of m.entries) {
      const e = result.entries.get(i);
      const tr = el('tr', { dataset: { index: String(i) } });
      if (!e) tr.append(el('td', { textContent: String(i) }), el('td', { colSpan: 4, textContent: t('不在证据包中或无法读取', 'not in the bundle, or unreadable') }));
      else {
        // Each cell names its column too: a phone shows each entry as a card (app.css).
        const cell = (label, text) => el('td', { textContent: text, dataset: { label } });
        tr.append(
          cell(t('序号', 'Entry'), String(i)),
          cell(t('时间', 'Logged'), cst(e.time)),
          cell(t('记录', 'Record'), eventName(e.type)),
          cell(t('签名方', 'Signed by'), e.signers.map(signer).join('、')),
          cell(t('内容', 'What it says'), eventWords(e.event, party)),
        );
      }
      table.append(tr);
    }
    box.append(el('h3', { textContent: t(`联单 ${m.number}`, `Manifest ${m.number}`) }), el('div', { className: 'scroll' }, table));
  }
  box.append(
    el('p', {
      className: 'muted small',
      textContent: t(
        '以上内容由本浏览器根据证据包中各条记录的原始字节重新读出；仅当全部核验项通过时成立。证据包所附的服务器摘要不是证据，未作核对。',
        'Read again by this browser from the entries’ own bytes; it holds only when every check holds. The server’s summary in the file is not evidence and is not checked.',
      ),
    }),
  );
  return box;
}

export async function showResult(root, result, fileBytes) {
  const words = pageWords();
  const verdict = root.querySelector('#verdict');
  const failed = result.checks.filter((c) => !c.ok);
  verdict.className = `verdict ${result.ok ? 'ok' : 'bad'}`;
  verdict.dataset.ok = result.ok ? 'yes' : 'no';
  verdict.replaceChildren(
    el('span', {
      className: 'verdict-title',
      textContent: result.ok ? t('核验通过：证据包未被改动', 'Verified: the bundle is as the log committed it') : t('核验不通过：证据包不可信', 'Does not verify: do not rely on this bundle'),
    }),
    el('small', {
      textContent: result.ok
        ? t(
            `${result.entries.size} 条记录的签名、哈希和包含证明全部核对无误，均在日志公钥签署的检查点之内。`,
            `All ${result.entries.size} entries' signatures, hashes and inclusion proofs hold under the checkpoint the log key signed.`,
          )
        : t(`${failed.length} 项未通过：${[...new Set(failed.map((c) => reasonWords(c.code).zh))].slice(0, 3).join('；')}`, `${failed.length} checks fail: ${[...new Set(failed.map((c) => reasonWords(c.code).en))].slice(0, 3).join('; ')}`),
    }),
  );
  const summary = root.querySelector('#summary');
  if (summary) {
    summary.hidden = !result.bundle;
    summary.replaceChildren();
    if (result.bundle) summary.append(witnessBlock(result.witnesses, result.cosignatures), await caseSummary(result, fileBytes, words));
  }
  const list = root.querySelector('#checks');
  list.replaceChildren();
  // Failures first; what holds folded under them (a reader opens it to see each check).
  const held = el('ul', { className: 'list checks' });
  const fold = el('details', { className: 'held' }, el('summary', { textContent: t(`通过的 ${result.checks.length - failed.length} 项（展开查看）`, `${result.checks.length - failed.length} checks hold (open to see each)`) }), held);
  for (const c of [...failed, ...result.checks.filter((c) => c.ok)]) {
    const r = reasonWords(c.code);
    (c.ok ? held : list).append(
      el(
        'li',
        { className: `check ${c.ok ? 'ok' : 'bad'}`, dataset: { code: c.code, subject: c.subject } },
        el('span', { className: `badge ${c.ok ? 'ok' : 'bad'}`, textContent: c.ok ? t('通过', 'holds') : t('不通过', 'fails') }),
        ' ',
        el('b', { textContent: subjectWords(c.subject) }),
        c.ok ? null : el('span', { className: 'reason', textContent: `${t('：', ': ')}${t(r.zh, r.en)}` }),
        el('br'),
        el('small', { className: 'muted detail', lang: 'en', textContent: c.detail, dataset: { raw: '' } }),
      ),
    );
  }
  if (held.children.length) list.append(el('li', { className: 'fold' }, fold));
  const count = root.querySelector('#checks-count');
  if (count) count.textContent = t(`共 ${result.checks.length} 项，${failed.length} 项不通过`, `${result.checks.length} checks, ${failed.length} fail`);
  root.hidden = false;
}

/// The witnesses this browser checks a bundle's cosignatures with (wl-tlog.js pinnedWitnesses:
/// the ones kept since the log first named them; offline, the kept ones), for verifyBundle: a
/// failing cosignature fails the bundle; fewer than the quorum is stated (a fresh pull, not
/// yet witnessed), not a failure.
export async function pagesWitnesses() {
  const pin = await pinnedWitnesses();
  return pin.keys.length ? { keys: pin.keys, required: false } : null;
}

async function checkFile(file) {
  const words = pageWords();
  const err = document.querySelector('[data-error-for="file"]');
  err.hidden = true;
  const bytes = await new Promise((resolve, reject) => {
    const r = new FileReader();
    r.onload = () => resolve(new Uint8Array(r.result));
    r.onerror = () => reject(r.error);
    r.readAsArrayBuffer(file);
  });
  const result = await verifyBundle(bytes, words.log_key, await pagesWitnesses());
  await showResult(document.getElementById('result'), result, bytes);
  document.getElementById('verdict').scrollIntoView({ block: 'start' });
}

function start() {
  const input = document.getElementById('bundle-file');
  const drop = document.getElementById('drop');
  if (!input || !drop) return;
  const run = (f) =>
    f &&
    checkFile(f).catch((e) => {
      const err = document.querySelector('[data-error-for="file"]');
      err.textContent = t(`无法读取该文件：${e.message}`, `Cannot read the file: ${e.message}`);
      err.hidden = false;
    });
  input.addEventListener('change', () => run(input.files[0]));
  drop.addEventListener('dragover', (e) => {
    e.preventDefault();
    drop.classList.add('over');
  });
  drop.addEventListener('dragleave', () => drop.classList.remove('over'));
  drop.addEventListener('drop', (e) => {
    e.preventDefault();
    drop.classList.remove('over');
    run(e.dataTransfer.files[0]);
  });
  document.body.dataset.checkReady = 'yes';
}

start();
