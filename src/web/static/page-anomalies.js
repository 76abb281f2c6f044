// page-anomalies.js: the anomaly queue (/app/anomalies, 异常联单).
//  - Reads GET /v1/anomalies with the filters of the form (kind, state, party, site, vehicle,
//    from/to in China Standard Time), newest first, a page at a time (`next` → "下一页"),
//    signed with this device's key (a session may not read anomalies). A refused filter is
//    shown next to its field, in the page's language.
//  - Each row: the kind, open or handled (by whom, when, what), the reason in the page's
//    language with the detector's own English sentence beneath, the manifests (/app/m/N), the
//    vehicles (/app/map?plate=&from=&to=, the day around it) and the log entries behind it.
//  - "记录处理情况": signs `case.noted` ({by, anomaly, action, case?, at}) in the browser,
//    posts it, and shows the row as handled from the log's own answer.
//  - "导出 CSV": every page of the current filtered list as CSV (UTF-8 with a BOM, so Excel
//    reads the Chinese; times in CST).
//  - Each manifest of a row can be picked for a case (wl-case.js); "建立案件" opens the cases
//    page with them.
// Exports: none (a page script).

import { signEvent } from './wl-sign.js';
import { cst, cstField } from './wl-format.js';
import { t, signedRequest, postSigned, showProblem, clearProblems } from './wl-app.js';
import { pickBox, showPicked, csvBlob, download } from './wl-case.js';

const words = JSON.parse(document.getElementById('words').textContent);
const form = document.getElementById('filters');
const list = document.getElementById('queue');
const more = document.getElementById('more');
const summary = document.getElementById('summary');
const FIELDS = ['kind', 'state', 'party', 'site', 'vehicle', 'from', 'to'];
const HOUR = 3600e3;

/** The query of the form's filters (and the URL's `limit`), percent-encoded. */
function filterQuery() {
  const q = [];
  for (const name of FIELDS) {
    const v = (form.elements[name].value || '').trim();
    if (v) q.push(`${name}=${encodeURIComponent(v)}`);
  }
  const limit = new URLSearchParams(location.search).get('limit');
  if (limit) q.push(`limit=${encodeURIComponent(limit)}`);
  return q;
}

const labelOf = (field) => {
  const el = form.querySelector(`label[for="f-${field}"]`);
  return el ? el.textContent.trim() : '';
};

/** A refusal of the API, next to the filter it names, in the page's language. */
async function refuse(problem) {
  const field = problem && problem.field;
  const slot = field && form.querySelector(`[data-error-for="${CSS.escape(field)}"]`);
  const expect = slot && slot.dataset.expect;
  const where = labelOf(field) || field || '';
  const text = where
    ? `${where}${t('：不符合要求', ': not accepted')}${expect ? t(`。应为：${expect}`, ` (expected ${expect})`) : ''}`
    : t('服务器未接受此查询', 'The server refused this search');
  await showProblem(form, { type: 'bad-request', field: slot ? field : '', text });
  const shown = slot || form.querySelector('[data-error-for=""]');
  if (shown && problem && problem.detail) shown.title = problem.detail;
}

const names = (ids, table) => ids.map((i) => (table[i] ? `${table[i]}（${i}）` : i));
const join = (xs) => xs.join(t('、', ', ')) || t('（无）', '(none)');

/** The reason in the page's language: the kind's sentence with what it is about. */
function reasonText(a) {
  const k = words.kinds[a.kind] || { name: a.kind, reason: '' };
  return k.reason
    .replaceAll('{m}', join(a.manifests))
    .replaceAll('{v}', join(a.vehicles))
    .replaceAll('{s}', join(names(a.sites, words.sites)))
    .replaceAll('{p}', join(names(a.parties, words.parties)));
}

const el = (tag, props = {}, ...kids) => {
  const e = document.createElement(tag);
  Object.assign(e, props);
  e.append(...kids);
  return e;
};

function handledLine(h) {
  const who = h.by_name ? `${h.by_name}（${h.by}）` : h.by;
  const parts = [`${t('已处理', 'Handled')}：${who}`, cst(h.at), h.action];
  if (h.case) parts.push(`${t('案件', 'case')} ${h.case}`);
  parts.push(`${t('日志条目', 'log entry')} #${h.index}`);
  return el('p', { className: 'handled' }, parts.join(' · '));
}

function row(a) {
  const li = el('li', { className: 'anomaly' });
  li.dataset.id = a.id;
  li.dataset.kind = a.kind;
  li.dataset.state = a.handled ? 'handled' : 'open';
  const k = words.kinds[a.kind] || { name: a.kind };
  const head = el('p', {},
    el('span', { className: 'badge bad' }, k.name), ' ',
    el('span', { className: `badge ${a.handled ? 'ok' : 'warn'} state-badge` }, a.handled ? t('已处理', 'Handled') : t('待处理', 'Open')), ' ',
    el('span', { className: 'muted small' }, cst(a.at)));
  const reason = el('p', { className: 'reason' }, reasonText(a));
  const detail = el('small', { className: 'muted detail', lang: 'en' }, a.reason);
  detail.dataset.raw = '';
  li.append(head, reason, detail);
  const links = el('p', { className: 'links small' });
  for (const n of a.manifests) {
    links.append(el('a', { href: `/app/m/${encodeURIComponent(n)}`, className: 'mono manifest' }, n), ' ',
      pickBox(n, t('选入案件', 'Pick')), ' ');
  }
  const at = Date.parse(a.at);
  for (const v of a.vehicles) {
    // The window as the map's form shows it: China Standard Time, to the minute.
    const from = cstField(at - 6 * HOUR);
    const to = cstField(at + 6 * HOUR);
    const href = `/app/map?plate=${encodeURIComponent(v)}&from=${encodeURIComponent(from)}&to=${encodeURIComponent(to)}`;
    links.append(el('a', { href, className: 'map' }, `${t('轨迹地图', 'Map')} ${v}`), ' ');
  }
  links.append(el('span', { className: 'muted entries' }, `${t('日志条目', 'Log entries')} ${a.entries.map((i) => `#${i}`).join(' ')}`));
  li.append(links);
  if (a.handled) li.append(handledLine(a.handled));
  else if (words.may_note) li.append(noteButton(li, a));
  return li;
}

function noteButton(li, a) {
  const b = el('button', { type: 'button', className: 'note-open' }, t('记录处理情况', 'Record what was done'));
  b.addEventListener('click', () => {
    b.hidden = true;
    const f = document.getElementById('note-form').content.firstElementChild.cloneNode(true);
    li.append(f);
    f.elements.action.focus();
    f.addEventListener('submit', (e) => { e.preventDefault(); note(li, a, f, b); });
  });
  return b;
}

async function note(li, a, f, b) {
  clearProblems(f);
  const action = f.elements.action.value.trim();
  const kase = f.elements.case.value.trim();
  if (!action) {
    await showProblem(f, { field: 'event.action', local: true, detail: t('请写明做了什么', 'Say what was done') });
    return;
  }
  const event = { type: 'case.noted', by: words.me, anomaly: a.id, action, at: new Date().toISOString() };
  if (kase) event.case = kase;
  const submit = f.querySelector('button[type=submit]');
  submit.disabled = true;
  let r;
  try {
    r = await postSigned(await signEvent(event));
  } catch (_) {
    submit.disabled = false;
    await showProblem(f, { type: 'network', text: t('无法连接服务器，未提交：请联网后重试', 'Cannot reach the server; nothing was submitted: try again') });
    return;
  }
  if (!r.ok) {
    submit.disabled = false;
    await showProblem(f, r.body);
    return;
  }
  // The row as the log now has it.
  const again = await signedRequest('GET', `/v1/anomalies?${[...filterQuery().filter((p) => !p.startsWith('state=') && !p.startsWith('limit=')), 'limit=500'].join('&')}`);
  const now = again.ok && (again.body.anomalies || []).find((x) => x.id === a.id);
  const h = (now && now.handled) || { by: words.me, by_name: words.parties[words.me], at: event.at, action, case: kase || null, index: r.body && r.body.index };
  f.remove();
  b.remove();
  li.dataset.state = 'handled';
  const badge = li.querySelector('.state-badge');
  badge.className = 'badge ok state-badge';
  badge.textContent = t('已处理', 'Handled');
  li.append(handledLine(h));
}

let cursor = null;
let shown = 0;

async function load(next) {
  clearProblems(form);
  const q = filterQuery();
  if (next) q.push(`cursor=${encodeURIComponent(next)}`);
  const r = await signedRequest('GET', `/v1/anomalies${q.length ? `?${q.join('&')}` : ''}`);
  if (!r.ok) {
    summary.textContent = '';
    more.hidden = true;
    if (r.status === 400) await refuse(r.body);
    else await showProblem(form, r.body || { type: 'network' });
    return;
  }
  if (!next) { list.replaceChildren(); shown = 0; }
  for (const a of r.body.anomalies) list.append(row(a));
  shown += r.body.anomalies.length;
  cursor = r.body.next || null;
  more.hidden = !cursor;
  // `total` is left out when the page was read from the newest anomalies alone (the list
  // was not counted to its end).
  const asOf = cst(r.body.as_of);
  summary.textContent = typeof r.body.total === 'number'
    ? t(`共 ${r.body.total} 条，已显示 ${shown} 条（最新在前）· 截至 ${asOf}`,
      `${r.body.total} in all, ${shown} shown (newest first) · as of ${asOf}`)
    : t(`已显示最新的 ${shown} 条${cursor ? '（更早的点“下一页”）' : ''} · 截至 ${asOf}`,
      `The newest ${shown} shown${cursor ? ' (older ones under “Next page”)' : ''} · as of ${asOf}`);
}

more.addEventListener('click', () => load(cursor));

// CSV: every page of the current filters.

async function csv() {
  clearProblems(form);
  const base = filterQuery().filter((p) => !p.startsWith('limit='));
  base.push('limit=500');
  const rows = [[t('时间（北京时间）', 'Time (CST)'), t('类型', 'Kind'), t('处理情况', 'State'), t('原因', 'Reason'),
    t('原因（英文）', 'Reason (detector)'), t('联单', 'Manifests'), t('车辆', 'Vehicles'), t('场所', 'Sites'),
    t('单位', 'Parties'), t('日志条目', 'Log entries'), t('处理人', 'Handled by'), t('处理时间', 'Handled at'),
    t('处理情况说明', 'What was done'), t('案件编号', 'Case'), t('编号', 'Id')]];
  let next = null;
  do {
    const q = [...base];
    if (next) q.push(`cursor=${encodeURIComponent(next)}`);
    const r = await signedRequest('GET', `/v1/anomalies?${q.join('&')}`);
    if (!r.ok) { await refuse(r.body); return; }
    for (const a of r.body.anomalies) {
      const h = a.handled;
      rows.push([cst(a.at), (words.kinds[a.kind] || {}).name || a.kind, h ? t('已处理', 'Handled') : t('待处理', 'Open'),
        reasonText(a), a.reason, a.manifests.join(' '), a.vehicles.join(' '), a.sites.join(' '),
        a.parties.join(' '), a.entries.join(' '), h ? (h.by_name || h.by) : '', h ? cst(h.at) : '',
        h ? h.action : '', h && h.case ? h.case : '', a.id]);
    }
    next = r.body.next;
  } while (next);
  download(csvBlob(rows), `anomalies-${cstField(Date.now()).slice(0, 10)}.csv`);
}

document.getElementById('csv').addEventListener('click', () => csv());
showPicked();
load(null);
