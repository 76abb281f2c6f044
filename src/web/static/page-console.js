// page-console.js: the dashboard (/app/console, 督查首页). The counters of manifests come
// with the page; this script adds, with requests signed by this device's key (a session may
// read neither):
//  - today's and this week's anomalies by kind (China Standard Time days; weeks from Monday
//    00:00), from GET /v1/anomalies?from=<Monday> page after page; each number links to the
//    queue filtered by that kind and window;
//  - the latest pulls of evidence (GET /v1/exports), for those who may see them (others get
//    403 and the section stays hidden).
// Exports: none (a page script).

import { cst, cstField } from './wl-format.js';
import { t, signedRequest } from './wl-app.js';

const words = JSON.parse(document.getElementById('words').textContent);
const DAY = 86400e3;
const CST = 8 * 3600e3;
/** Most pages of anomalies read for the week's counts (500 each). */
const MAX_PAGES = 40;

const el = (tag, props = {}, ...kids) => {
  const e = document.createElement(tag);
  Object.assign(e, props);
  e.append(...kids);
  return e;
};

/** `YYYY-MM-DD` of a CST day given as ms of its 00:00 CST. */
const day = (ms) => cstField(ms).slice(0, 10);

async function byKind() {
  const state = document.getElementById('kinds-state');
  const table = document.getElementById('kinds');
  const now = Date.now();
  const today = Math.floor((now + CST) / DAY) * DAY - CST;
  // 1970-01-01 was a Thursday: (days + 3) % 7 is 0 on Mondays.
  const week = today - ((Math.floor((today + CST) / DAY) + 3) % 7) * DAY;
  const counts = {};
  let next = null;
  let pages = 0;
  do {
    let q = `/v1/anomalies?from=${day(week)}&limit=500`;
    if (next) q += `&cursor=${encodeURIComponent(next)}`;
    const r = await signedRequest('GET', q);
    if (!r.ok) {
      state.textContent = t('无法读取异常（本机密钥无权或无法连接）', 'Cannot read the anomalies (this key may not, or the server is unreachable)');
      return;
    }
    for (const a of r.body.anomalies) {
      const c = counts[a.kind] || (counts[a.kind] = { today: 0, week: 0 });
      c.week += 1;
      if (Date.parse(a.at) >= today) c.today += 1;
    }
    next = r.body.next;
    pages += 1;
  } while (next && pages < MAX_PAGES);
  const body = table.querySelector('tbody');
  body.replaceChildren();
  const link = (kind, from, n) => {
    const a = el('a', { href: `/app/anomalies?kind=${kind}&from=${day(from)}` }, String(n));
    a.dataset.kind = kind;
    a.dataset.window = from === today ? 'today' : 'week';
    return a;
  };
  for (const [kind, w] of Object.entries(words.kinds)) {
    const c = counts[kind];
    if (!c) continue;
    const tr = el('tr', {}, el('td', {}, w.name), el('td', {}, link(kind, today, c.today)), el('td', {}, link(kind, week, c.week)));
    tr.dataset.kind = kind;
    body.append(tr);
  }
  const total = Object.values(counts).reduce((s, c) => s + c.week, 0);
  state.textContent = total
    ? t(`本周（${day(week)} 起）共 ${total} 条${next ? '（仅统计最新部分）' : ''}`, `${total} this week (since ${day(week)})${next ? ' (the newest only)' : ''}`)
    : t(`本周（${day(week)} 起）没有异常`, `No anomalies this week (since ${day(week)})`);
  table.hidden = !total;
}

async function pulls() {
  const r = await signedRequest('GET', '/v1/exports');
  if (!r.ok) return;
  const box = document.getElementById('pulls');
  const ul = document.getElementById('pull-list');
  const latest = (r.body.exports || []).slice(-5).reverse();
  ul.replaceChildren();
  for (const x of latest) {
    const who = words.parties[x.by] || x.by;
    const li = el('li', {},
      el('b', {}, `${t('案件', 'Case')} ${x.case}`), ' · ', who, ' · ', cst(x.time),
      el('br'), el('span', { className: 'muted small' }, x.reason), el('br'));
    for (const n of x.manifests) li.append(el('a', { href: `/app/m/${encodeURIComponent(n)}`, className: 'mono small' }, n), ' ');
    li.append(el('span', { className: 'muted small' }, `${t('日志条目', 'log entry')} #${x.index}`));
    ul.append(li);
  }
  if (!latest.length) ul.append(el('li', { className: 'muted' }, t('尚无证据调取', 'No evidence pulled yet')));
  box.hidden = false;
}

byKind();
pulls();
