// page-cases.js: /app/cases, for inspectors and enforcement officers.
//  - The manifests of a case: picked on the search, graph, anomaly or manifest-list pages
//    (wl-case.js keeps them in localStorage `wl_case_pick`) or typed / pasted one a line.
//  - The pull: this device's key signs the `evidence.exported` event (by: the signed-in party,
//    case, reason, manifests, at: now) and posts it to POST /v1/bundles; the log appends it, the
//    answer is the bundle file, downloaded at once and checked in this browser (wl-bundle.js)
//    against the log key pinned in the page and the witnesses pinned in this browser (their
//    cosignatures k of n, each shown: wl-witnesses.js).
//  - The pulls: GET /v1/exports, signed with the device's key (a session may not read it): who
//    pulled which manifests, for which case, why, when (CST); each can be fetched again
//    (GET /v1/bundles/{index}, under the newest checkpoint the witnesses cosigned, if any).
//  - A printable case summary of the last bundle (print CSS hides the rest).
//
// Exports: none (the page's script).

import { t, showProblem, clearProblems, signedRequest, takeOver } from './wl-app.js';
import { signEvent, wireText } from './wl-sign.js';
import { verifyBundle } from './wl-bundle.js';
import { cst } from './wl-format.js';
import { pageWords, caseSummary, el, pagesWitnesses } from './page-check.js';
import { witnessBlock } from './wl-witnesses.js';
import { picks, download as save } from './wl-case.js';

const words = pageWords();
const form = document.getElementById('pull-form');
const $ = (id) => document.getElementById(id);

const partyName = (id) => ((words.names || {})[id] ? `${words.names[id]}（${id}）` : id);


function numbers(text) {
  return [...new Set(String(text).split(/[\s,，、;；]+/).filter(Boolean))];
}

function state(text, kind, ...more) {
  const s = $('pull-state');
  s.replaceChildren(text, ...more);
  s.className = `state ${kind}`;
  s.hidden = false;
}

const download = (bytes, name) => save(new Blob([bytes], { type: 'application/json' }), name);

/// Check a bundle in this browser and show the case summary; returns the result.
async function showBundle(bytes) {
  const result = await verifyBundle(bytes, words.log_key, await pagesWitnesses());
  const box = $('case-summary');
  const body = $('summary-body');
  body.replaceChildren();
  const verdict = el('p', {
    className: `state ${result.ok ? 'ok' : 'bad'}`,
    id: 'bundle-verdict',
    textContent: result.ok
      ? t(
          `本浏览器核验通过：${result.checks.length} 项全部成立`,
          `Checked in this browser: all ${result.checks.length} checks hold`,
        )
      : t(`本浏览器核验不通过：${result.checks.filter((c) => !c.ok).length} 项不成立`, `Does not verify in this browser: ${result.checks.filter((c) => !c.ok).length} checks fail`),
  });
  verdict.dataset.ok = result.ok ? 'yes' : 'no';
  body.append(verdict);
  if (result.bundle) body.append(witnessBlock(result.witnesses, result.cosignatures));
  if (result.bundle) body.append(await caseSummary(result, bytes, words));
  box.hidden = false;
  return result;
}

async function pull(e) {
  e.preventDefault();
  clearProblems(form);
  const manifests = numbers($('manifests').value);
  const event = {
    type: 'evidence.exported',
    by: words.party,
    case: $('case').value.trim(),
    reason: $('reason').value.trim(),
    manifests,
    at: new Date().toISOString(),
  };
  const local = (field, zhText, enText) => showProblem(form, { local: true, field, detail: t(zhText, enText) });
  if (!manifests.length) return local('event.manifests', '请至少填写一张联单编号', 'Give at least one manifest number');
  const bad = manifests.find((m) => !/^\d{14}$/.test(m));
  if (bad) return local('event.manifests', `联单编号应为 14 位数字：${bad}`, `A manifest number is 14 digits: ${bad}`);
  if (!event.case) return local('event.case', '请填写案件编号', 'Give the case id');
  if (!event.reason) return local('event.reason', '请填写调取理由', 'Give the reason');
  const button = $('pull');
  button.disabled = true;
  state(t('正在签名并调取…', 'Signing and pulling…'), 'pending');
  try {
    const wire = await signEvent(event);
    const r = await fetch('/v1/bundles', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: wireText(wire),
      cache: 'no-store',
    });
    if (!r.ok) {
      let problem = null;
      try {
        problem = await r.json();
      } catch (_) { /* not JSON */ }
      $('pull-state').hidden = true;
      await showProblem(form, problem || { status: r.status });
      return;
    }
    const bytes = new Uint8Array(await r.arrayBuffer());
    const name = /filename="([^"]+)"/.exec(r.headers.get('Content-Disposition') || '')?.[1] || `case-export-${r.headers.get('X-Export-Index')}.bundle.json`;
    download(bytes, name);
    const result = await showBundle(bytes);
    const index = r.headers.get('X-Export-Index');
    state(
      t(`已调取并下载（日志第 ${index} 条记录了本次调取）：`, `Pulled and downloaded (entry ${index} records the pull): `),
      result.ok ? 'ok' : 'bad',
      el('span', { className: 'mono small', textContent: name, dataset: { raw: '' } }),
    );
    $('pull-state').dataset.file = name;
    await listExports();
  } catch (err) {
    $('pull-state').hidden = true;
    await showProblem(form, { local: true, field: '', detail: t(`无法调取：${err.message}`, `Cannot pull: ${err.message}`) });
  } finally {
    button.disabled = false;
  }
}

async function again(index, button) {
  button.disabled = true;
  try {
    const r = await signedRequest('GET', `/v1/bundles/${index}`, undefined, { as: 'bytes' });
    if (!r.ok) throw new Error(String(r.status));
    const text = new TextDecoder().decode(r.body);
    const b = JSON.parse(text);
    download(r.body, `case-${String(b.export.case).replace(/[^A-Za-z0-9_-]/g, '_')}-export-${index}.bundle.json`);
    await showBundle(r.body);
    $('case-summary').scrollIntoView({ block: 'start' });
  } catch (err) {
    const slot = document.querySelector('[data-error-for="exports"]');
    slot.textContent = t(`无法再次获取证据包（${err.message}）`, `Cannot fetch the bundle again (${err.message})`);
    slot.hidden = false;
  } finally {
    button.disabled = false;
  }
}

async function listExports() {
  const list = $('exports');
  if (!list) return;
  const r = await signedRequest('GET', '/v1/exports');
  const slot = document.querySelector('[data-error-for="exports"]');
  if (!r.ok) {
    slot.textContent = t('无法读取调取记录', 'Cannot read the pulls');
    slot.hidden = false;
    return;
  }
  slot.hidden = true;
  const rows = [...(r.body.exports || [])].sort((a, b) => b.index - a.index);
  list.replaceChildren();
  if (!rows.length) list.append(el('li', { className: 'muted', textContent: t('尚无调取记录', 'No pulls yet') }));
  for (const x of rows) {
    const button = el('button', { type: 'button', className: 'small-btn again', textContent: t('再次获取证据包', 'Fetch the bundle again') });
    button.addEventListener('click', () => again(x.index, button));
    list.append(
      el(
        'li',
        { className: 'export', dataset: { index: String(x.index), case: x.case } },
        el('b', { textContent: t(`案件 ${x.case}`, `Case ${x.case}`) }),
        ' ',
        el('span', { className: 'muted', textContent: cst(x.time) }),
        el('br'),
        el('span', { textContent: `${t('调取单位', 'By')}${t('：', ': ')}${partyName(x.by)}${x.by_authority ? t('（主管部门代签）', ' (signed by the authority)') : ''}` }),
        el('br'),
        el('span', { textContent: `${t('理由', 'Reason')}${t('：', ': ')}${x.reason}` }),
        el('br'),
        el('span', { className: 'mono small', textContent: `${t('联单', 'Manifests')}${t('：', ': ')}${x.manifests.join('、')}` }),
        el('div', { className: 'actions' }, button),
      ),
    );
  }
  list.dataset.loaded = 'yes';
}

function start() {
  $('print')?.addEventListener('click', () => window.print());
  if (!form) return;
  const pick = picks();
  if (pick.length && !$('manifests').value.trim()) {
    $('manifests').value = pick.join('\n');
    $('picked').textContent = t(`已从检索、关系图、异常或联单列表选入 ${pick.length} 张联单`, `${pick.length} manifest(s) picked from search, the graph, the anomalies or a list`);
  }
  form.addEventListener('submit', pull);
  takeOver(form);
  listExports().finally(() => {
    document.body.dataset.casesReady = 'yes';
  });
}

start();
