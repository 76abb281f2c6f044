// page-search.js: the console's linked search (/app/search, 一案多查). A plate, a company, a
// site or a driver's pseudonymous id and a window typed in CST go to `GET /v1/search` in a
// request signed with this device's key (a session may not search); the answer is listed as
// manifests, each with the steps that involved the subject (in words, CST), paged by the API's
// cursor (`next`). The export fetches every page again and writes a CSV (UTF-8 with a BOM, so
// Excel reads the Chinese; one row per step; CST times). Manifests ticked here are picked for
// the cases page (wl-case.js).
// The API's refusals are shown in the page's language next to the field they name.
//
// Exports (shared with page-graph.js):
//   names() -> {party: {USCC: name}, site: {id: name}}   the page's registered names
//   roleWords(roles) -> string   how a subject was involved (`['from','vehicle']`), in words
//   TONE                          status → badge colour (ok / warn / bad)

import { t, words, showProblem, clearProblems, signedRequest } from './wl-app.js';
import { cst } from './wl-format.js';
import { pickBox, showPicked, clearPicks, csvCell } from './wl-case.js';

const ROLE = {
  party: ['有关单位', 'party'],
  from: ['交出方', 'gave the load'],
  to: ['接收方', 'took the load'],
  vehicle: ['运输车辆', 'truck'],
  driver: ['驾驶员', 'driver'],
  site: ['发生地点', 'place'],
  origin: ['起运地', 'origin'],
  destination: ['去向', 'destination'],
  actor: ['经办单位', 'acting party'],
};

export function roleWords(roles) {
  return (roles || []).map((r) => (ROLE[r] ? t(...ROLE[r]) : t('其他', 'other'))).join(t('、', ', '));
}

export const TONE = {
  received: 'ok', treated: 'ok', consolidated: 'ok', split: 'ok',
  issued: 'warn', in_transit: 'warn', at_station: 'warn', delivered: 'warn',
  rejected: 'bad', returned: 'bad', voided: 'bad',
};

let namesCache = null;
export function names() {
  if (!namesCache) {
    const el = document.getElementById('names');
    try { namesCache = JSON.parse(el ? el.textContent : '{}'); } catch (_) { namesCache = {}; }
    namesCache.party = namesCache.party || {};
    namesCache.site = namesCache.site || {};
  }
  return namesCache;
}

const KINDS = ['plate', 'party', 'site', 'driver'];
/** Most manifests the CSV export reads (pages of 500). */
const EXPORT_MAX = 20000;

function el(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === 'class') e.className = v; else if (v !== undefined && v !== null) e.setAttribute(k, v);
  }
  for (const k of kids) if (k !== null && k !== undefined) e.append(k);
  return e;
}

function partyName(id) { return names().party[id] || id; }
function siteName(id) { return names().site[id] || id; }

/** The search as typed: the subject's kind and value, and the window. */
function typed(form) {
  const kind = form.querySelector('input[name=kind]:checked').value;
  return {
    kind,
    value: document.getElementById(kind).value.trim(),
    from: document.getElementById('from').value.trim(),
    to: document.getElementById('to').value.trim(),
  };
}

function queryOf(q, extra) {
  const parts = [[q.kind, q.value]];
  if (q.from) parts.push(['from', q.from]);
  if (q.to) parts.push(['to', q.to]);
  for (const [k, v] of Object.entries(extra || {})) if (v !== undefined && v !== null) parts.push([k, v]);
  return parts.map(([k, v]) => `${k}=${encodeURIComponent(v)}`).join('&');
}

function showKind(kind) {
  for (const d of document.querySelectorAll('[data-kind]')) d.hidden = d.dataset.kind !== kind;
}

/** What the search is about, in words (the plate, the company's or site's name…). */
function subjectWords(q) {
  if (q.kind === 'party') return `${t('单位', 'company')} ${partyName(q.value)}`;
  if (q.kind === 'site') return `${t('场所', 'site')} ${siteName(q.value)}`;
  if (q.kind === 'driver') return `${t('驾驶员', 'driver')} ${q.value.slice(0, 12)}…`;
  return `${t('车牌', 'plate')} ${q.value}`;
}

function stepWords(w, type) { return (w.event || {})[type] || t('其他记录', 'another step'); }

function hitItem(w, h) {
  const n = h.number;
  const entries = el('ol', { class: 'entries' });
  for (const e of h.entries) {
    entries.append(el('li', { 'data-index': String(e.index) },
      el('span', { class: 'when' }, cst(e.time)), ' · ',
      el('b', {}, stepWords(w, e.type)), ' · ',
      el('span', { class: 'muted' }, roleWords(e.roles)), ' · ',
      el('span', { class: 'muted' }, `${t('日志序号', 'entry')} ${e.index}`)));
  }
  return el('li', { 'data-number': n },
    el('div', { class: 'hit-head' },
      pickBox(n),
      el('a', { href: `/app/m/${n}`, class: 'mono num' }, n),
      el('span', { class: `badge ${TONE[h.status] || ''}` }, (w.status || {})[h.status] || h.status),
      el('span', { class: 'muted small' }, (w.stream || {})[h.stream] || '')),
    el('p', { class: 'small muted route' },
      `${partyName(h.issuer)} · ${siteName(h.origin)} → ${siteName(h.destination)} · ${t('开具于', 'issued')} ${cst(h.issued_at)}`),
    entries,
    el('p', { class: 'small' }, el('a', { href: `/app/graph?manifest=${n}`, class: 'graph-link' }, t('查看关系图', 'Show the graph'))));
}

// ---------------------------------------------------------------------------------------------
// CSV


/** The CSV of the manifests `hits`: a header and one row per step that involved the subject. */
export function csvText(w, hits) {
  const head = [
    t('联单编号', 'Manifest'), t('废物类别', 'Stream'), t('状态', 'Status'), t('产生单位', 'Generator'),
    t('起运地', 'Origin'), t('去向', 'Destination'), t('开具时间（北京时间）', 'Issued (CST)'),
    t('日志序号', 'Entry'), t('记录时间（北京时间）', 'Time (CST)'), t('步骤', 'Step'), t('涉及方式', 'Involved as'),
  ];
  const rows = [head];
  for (const h of hits) {
    for (const e of h.entries) {
      rows.push([h.number, (w.stream || {})[h.stream] || h.stream, (w.status || {})[h.status] || h.status,
        partyName(h.issuer), siteName(h.origin), siteName(h.destination), cst(h.issued_at),
        e.index, cst(e.time), stepWords(w, e.type), roleWords(e.roles)]);
    }
  }
  return rows.map((r) => r.map(csvCell).join(',')).join('\r\n') + '\r\n';
}

// ---------------------------------------------------------------------------------------------
// The page

let current = null; // {q, next}
let csvUrl = null;

async function search(form, q, cursor) {
  const more = document.getElementById('more');
  const list = document.getElementById('hits');
  const r = await signedRequest('GET', `/v1/search?${queryOf(q, { cursor })}`).catch(() => ({ ok: false, body: { type: 'network' } }));
  if (!r.ok) {
    if (!cursor) document.getElementById('results').hidden = true;
    await showProblem(form, r.body);
    return;
  }
  const w = await words();
  if (!cursor) list.replaceChildren();
  for (const h of r.body.manifests) list.append(hitItem(w, h));
  current = { q, next: r.body.next || null };
  more.hidden = !current.next;
  const shown = list.children.length;
  const span = [q.from && `${t('自', 'from')} ${q.from}`, q.to && `${t('至', 'to')} ${q.to}`].filter(Boolean).join(' ');
  document.getElementById('summary').textContent = shown
    ? `${subjectWords(q)}${span ? ` · ${span}` : ''}${t('：', ': ')}${shown}${current.next ? '+' : ''} ${t('份联单', shown === 1 ? 'manifest' : 'manifests')}`
    : `${subjectWords(q)}${span ? ` · ${span}` : ''}${t('：没有涉及的联单', ': no manifests')}`;
  document.getElementById('results').hidden = false;
  document.getElementById('csv').disabled = !shown;
  showPicked();
  document.body.dataset.ready = 'search';
}

async function exportCsv(form) {
  if (!current) return;
  const state = document.getElementById('csv-state');
  state.hidden = true;
  const hits = [];
  let cursor;
  do {
    const r = await signedRequest('GET', `/v1/search?${queryOf(current.q, { limit: 500, cursor })}`).catch(() => ({ ok: false, body: { type: 'network' } }));
    if (!r.ok) { await showProblem(form, r.body); return; }
    hits.push(...r.body.manifests);
    cursor = r.body.next;
  } while (cursor && hits.length < EXPORT_MAX);
  if (cursor) {
    state.textContent = t(`结果超过 ${EXPORT_MAX} 份联单，只导出前 ${hits.length} 份；请缩小时间段。`, `More than ${EXPORT_MAX} manifests: only the first ${hits.length} are exported; narrow the window.`);
    state.hidden = false;
  }
  const text = csvText(await words(), hits);
  const bytes = new TextEncoder().encode(text);
  const blob = new Blob([new Uint8Array([0xef, 0xbb, 0xbf]), bytes], { type: 'text/csv;charset=utf-8' });
  if (csvUrl) URL.revokeObjectURL(csvUrl);
  csvUrl = URL.createObjectURL(blob);
  const a = document.getElementById('csv-link');
  a.href = csvUrl;
  a.download = `${t('联单查询', 'search')}-${current.q.kind}-${current.q.value.slice(0, 16)}.csv`;
  a.dataset.rows = String(text.split('\r\n').length - 2);
  a.click();
}

function fromUrl(form) {
  const p = new URLSearchParams(location.search);
  const kind = KINDS.find((k) => p.has(k));
  if (!kind) return null;
  form.querySelector(`input[name=kind][value=${kind}]`).checked = true;
  showKind(kind);
  document.getElementById(kind).value = p.get(kind);
  document.getElementById('from').value = p.get('from') || '';
  document.getElementById('to').value = p.get('to') || '';
  return typed(form);
}

function start() {
  const form = document.getElementById('search-form');
  if (!form) return;
  form.addEventListener('change', (e) => { if (e.target.name === 'kind') showKind(e.target.value); });
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    clearProblems(form);
    const q = typed(form);
    if (!q.value) {
      await showProblem(form, { local: true, field: q.kind, detail: t('请填写或选择要查询的对象', 'Type or choose what to search for') });
      return;
    }
    const lang = new URLSearchParams(location.search).get('lang');
    history.replaceState(null, '', `/app/search?${queryOf(q, { lang })}`);
    const b = form.querySelector('button[type=submit]');
    b.disabled = true;
    try { await search(form, q); } finally { b.disabled = false; }
  });
  document.getElementById('more').addEventListener('click', () => current && current.next && search(form, current.q, current.next));
  document.getElementById('csv').addEventListener('click', () => exportCsv(form));
  document.getElementById('unpick').addEventListener('click', clearPicks);
  const q = fromUrl(form);
  if (q && q.value) search(form, q);
  else document.body.dataset.ready = 'search';
}

start();
