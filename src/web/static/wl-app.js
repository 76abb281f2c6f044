// wl-app.js: what every page of the web application runs.
//  - Signs in: when the server says no one is signed in (`<body data-session="none">`) and this
//    device holds a key (wl-keys.js, slot 'device'), it signs `POST /app/session` with it
//    (WL-Ed25519, as every signed request) and reloads with the session cookie. A key its
//    party has not approved yet gets 403 `key-not-approved`: the page says so.
//  - Submits what waits in the outbox (wl-outbox.js) when the page loads and whenever the
//    network comes back, and shows in the bar above the page what is still waiting.
//  - Shows the server's refusals next to the field they name (`showProblem`), in the page's
//    language (the words come from `/app/i18n.json`, the server's own tables).
//
// Exports:
//   zh                          the page is in Chinese
//   t(zh, en) -> string         the text in the page's language
//   login() -> {ok, status, problem?}   sign in with this device's key
//   showProblem(root, problem)  put a problem's message next to its field (or the form's top);
//                               `{field, detail, local: true}` is a page's own check's message
//   clearProblems(root)
//   problemText(problem, expect?) -> string   a problem in the page's language
//   fieldWords(table, path) -> string   `event.lines[0].code` → 第1行 代码 (table: /app/i18n.json)
//   words() -> the /app/i18n.json tables of the page's language ({} when unreachable)
//   postSigned(wire) -> {ok, status, body}   POST /v1/events (no queue: for online desk work)
//   signedRequest(method, pathAndQuery, body?, {as}) -> {ok, status, body}   a request signed
//                               with this device's key (WL-Ed25519), for what a session may not
//                               read: searches, anomalies, entries, proofs, bundles. The path
//                               must be sent as signed: percent-encode it yourself
//                               (encodeURIComponent) before calling. `as`: 'json' (default),
//                               'text' or 'bytes'.
//   takeOver(form)              the page's script now handles `form`: its submit buttons, drawn
//                               `data-wait disabled` so that a quick tap never submits the form
//                               natively, are enabled
//   showRows(dl, rows)          fill a <dl> with [label, value] rows (what is to be signed)
//   flagList(flags, said?) -> element | null   the flags a step raised, in words, to show at once
//   showRaised(after, number, index) the flags entry `index` raised on manifest `number`, read
//                               back from the log, shown after the element `after`
//   refreshNet()                 update the network / outbox bar
// Events: `wl:outbox` on document after each automatic flush (load, back online), with
//   detail.outcomes (wl-outbox.js flush's outcomes). Opening /app/m/{number} sets
//   localStorage `wl_load` (the load this device works on).

import * as keys from './wl-keys.js';
import { authHeader, wireText } from './wl-sign.js';
import * as outbox from './wl-outbox.js';

export const zh = document.documentElement.lang !== 'en';
export const t = (z, e) => (zh ? z : e);

let table = null;
async function words() {
  if (!table) {
    table = fetch(`/app/i18n.json?lang=${zh ? 'zh' : 'en'}`)
      .then((r) => (r.ok ? r.json() : {}))
      .catch(() => ({}));
  }
  return table;
}

/** Empty the offline worker's cache (sign-out, another key imported): the next person on
 *  this device sees none of the pages the last one opened. */
export async function forgetPages() {
  if (!window.caches) return;
  for (const k of await caches.keys()) await caches.delete(k);
}

export async function login() {
  const auth = await authHeader('POST', '/app/session', new Uint8Array());
  const r = await fetch('/app/session', {
    method: 'POST',
    headers: { Authorization: auth },
    credentials: 'same-origin',
  });
  if (r.ok) return { ok: true, status: r.status };
  let problem = null;
  try { problem = await r.json(); } catch (_) { /* not JSON */ }
  return { ok: false, status: r.status, problem };
}

/** A problem's kind (`urn:wasteledger:problem:bad-field` → `bad-field`). */
function kindOf(problem) {
  return String((problem && problem.type) || '').replace(/^urn:wasteledger:problem:/, '');
}

/**
 * A field path as words, as src/web/i18n.rs `field_words` says it: `event.lines[0].quantity`
 * → 第1行 数量 / line 1 quantity (the `event.` prefix dropped, list positions counted from 1).
 */
export function fieldWords(w, field) {
  if (!field) return '';
  const names = (w && w.field) || {};
  const nth = (w && w.nth) || {};
  const word = (n) => names[n] || n;
  const parts = [];
  for (const seg of field.replace(/^event\./, '').split('.').filter(Boolean)) {
    const m = seg.match(/^([A-Za-z_()-]+)((?:\[\d+\])*)$/);
    if (!m) { parts.push(word(seg)); continue; }
    const idx = [...m[2].matchAll(/\[(\d+)\]/g)].map((x) => Number(x[1]) + 1);
    if (!idx.length) { parts.push(word(m[1])); continue; }
    const tpl = nth[m[1]] || nth['*'] || (zh ? '{name}第{n}项' : '{name} {n}');
    parts.push(tpl.replace('{name}', word(m[1])).replace('{n}', idx[0]));
    for (const j of idx.slice(1)) parts.push(zh ? `第${j}项` : `item ${j}`);
  }
  return parts.join(' ');
}

/**
 * A problem in the page's language. In Chinese: where (the field in words), what kind of
 * refusal (the server's problem types in words) and, when the page says what the field
 * expects (`expect`), that too; the server's English detail is kept for the tooltip only. In
 * English: the kind and the server's detail. A page's own check (`problem.local`) is its
 * `detail`, already in the page's language.
 */
export async function problemText(problem, expect) {
  if (!problem) return t('服务器没有回答', 'The server did not answer');
  // A page's own check, already in the page's language.
  if (problem.text) return problem.text;
  if (problem.local) return problem.detail || '';
  const w = await words();
  const k = kindOf(problem);
  if (k === 'network') return t('无法连接服务器，请检查网络后重试。', 'Cannot reach the server: check the network and try again.');
  const kind = (w.problem || {})[k] || (zh ? `服务器未接受此请求（${problem.status || '?'}）` : problem.title || 'Refused');
  const where = fieldWords(w, problem.field);
  if (!zh) return [where, kind, problem.detail].filter(Boolean).join(': ');
  return `${where ? where + '：' : ''}${kind}${expect ? `。应为：${expect}` : ''}`;
}

/** The words tables of `/app/i18n.json` (statuses, flags, problems, fields, R/D codes…). */
export { words };

export function clearProblems(root) {
  root.querySelectorAll('[data-error-for]').forEach((e) => { e.hidden = true; e.textContent = ''; e.removeAttribute('title'); });
  root.querySelectorAll('[aria-invalid]').forEach((e) => e.removeAttribute('aria-invalid'));
}

/** The error slot for a field path: the field's own, else its nearest parent's, else the form's. */
function slotFor(root, field) {
  let f = field || '';
  for (;;) {
    const el = root.querySelector(`[data-error-for="${CSS.escape(f)}"]`);
    if (el) return el;
    if (!f) return null;
    const cut = Math.max(f.lastIndexOf('.'), f.lastIndexOf('['));
    f = cut > 0 ? f.slice(0, cut) : '';
  }
}

/**
 * Put a problem's message next to the field it names (`[data-error-for=path]`, else the
 * nearest parent path's slot, else the form's own), mark that field invalid, focus it and
 * bring it into view. A slot's `data-expect` says in the page's language what the field takes.
 */
export async function showProblem(root, problem) {
  const slot = slotFor(root, problem && problem.field) || root.querySelector('[data-error-for]');
  const text = problem && problem.local ? problem.detail : await problemText(problem, slot && slot.dataset.expect);
  if (!slot) { alert(text); return; }
  slot.textContent = text;
  // The server's own sentence (English, naming the field and what it expected) stays off the
  // page's text, on the message's tooltip, for whoever must fix it.
  if (problem && problem.detail && !problem.text && !problem.local) slot.title = problem.detail;
  slot.hidden = false;
  const input = problem && problem.field && root.querySelector(`[data-field="${CSS.escape(slot.dataset.errorFor)}"]`);
  if (input) {
    input.setAttribute('aria-invalid', 'true');
    // A control inside a closed <details> cannot take the focus: open it first.
    const d = input.closest('details');
    if (d) d.open = true;
    if (typeof input.focus === 'function') input.focus();
  }
  slot.scrollIntoView({ block: 'center' });
}

export async function signedRequest(method, pathAndQuery, body, { as = 'json' } = {}) {
  const bytes = body === undefined || body === null ? new Uint8Array()
    : body instanceof Uint8Array ? body : new TextEncoder().encode(typeof body === 'string' ? body : JSON.stringify(body));
  const auth = await authHeader(method, pathAndQuery, bytes);
  const init = { method, headers: { Authorization: auth }, credentials: 'same-origin', cache: 'no-store' };
  if (method !== 'GET' && method !== 'HEAD') {
    init.body = bytes;
    init.headers['Content-Type'] = 'application/json';
  }
  const r = await fetch(pathAndQuery, init);
  let out = null;
  try {
    out = as === 'bytes' ? new Uint8Array(await r.arrayBuffer()) : as === 'text' ? await r.text() : await r.json();
  } catch (_) { /* no body, or not in that form */ }
  return { ok: r.ok, status: r.status, body: out };
}

export function takeOver(form) {
  if (!form) return;
  for (const b of form.querySelectorAll('button[data-wait]')) {
    b.removeAttribute('data-wait');
    b.disabled = false;
  }
  form.dataset.ready = '1';
}

/** Fill `dl` with `[label, value]` rows, as text. */
export function showRows(dl, rows) {
  dl.replaceChildren();
  for (const [k, v] of rows) {
    const dt = document.createElement('dt');
    dt.textContent = k;
    const dd = document.createElement('dd');
    dd.textContent = v;
    dl.append(dt, dd);
  }
}

/**
 * The flags a step raised, as people read them: a heading and one line a flag (its kind in the
 * page's words; the log's own sentence, in English, under it). `said(f)` may add the page's own
 * words for a flag (the weighbridge's net against the count). Null when there are none.
 */
export async function flagList(flags, said) {
  if (!flags || !flags.length) return null;
  const w = await words();
  const box = document.createElement('div');
  box.className = 'raised';
  const h = document.createElement('h3');
  h.textContent = t('此步骤产生的异常提示', 'Flags this step raised');
  const ul = document.createElement('ul');
  ul.className = 'list';
  ul.id = 'done-flags';
  for (const f of flags) {
    const li = document.createElement('li');
    li.className = 'flag';
    li.dataset.kind = f.kind;
    const b = document.createElement('span');
    b.className = 'badge bad';
    b.textContent = (w.flag || {})[f.kind] || t('异常', 'Flag');
    const d = document.createElement('small');
    d.className = 'muted';
    d.lang = 'en';
    d.dataset.raw = '';
    d.textContent = f.detail;
    li.append(b);
    if (said) li.append(' ', said(f));
    li.append(document.createElement('br'), d);
    ul.append(li);
  }
  box.append(h, ul);
  return box;
}

/** Read the manifest back and show, after `after`, the flags entry `index` raised on it. The
 *  log takes such steps and flags them; the people who signed must see it at once. */
export async function showRaised(after, number, index) {
  try {
    const r = await fetch(`/v1/manifests/${encodeURIComponent(number)}`, { credentials: 'same-origin', cache: 'no-store' });
    if (!r.ok) return;
    const m = await r.json();
    const list = await flagList((m.flags || []).filter((f) => f.index === index));
    if (list) after.after(list);
  } catch (_) { /* offline: the manifest page shows its flags when opened */ }
}

export async function postSigned(wire) {
  const r = await fetch('/v1/events', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: wireText(wire),
  });
  let body = null;
  try { body = await r.json(); } catch (_) { /* empty */ }
  return { ok: r.ok, status: r.status, body };
}

export async function refreshNet() {
  const bar = document.getElementById('net');
  if (!bar) return;
  let waiting = [];
  try { waiting = await outbox.list(); } catch (_) { /* no IndexedDB */ }
  const queued = waiting.filter((i) => i.state === 'queued').length;
  const refused = waiting.filter((i) => i.state === 'refused').length;
  const msgs = [];
  if (!navigator.onLine) msgs.push(t('离线：可扫码验证、签名，联网后自动提交', 'Offline: you can check codes and sign; they are sent when the network is back'));
  if (queued) msgs.push(t(`${queued} 条已签名交接等待提交`, `${queued} signed hand-over(s) waiting to be sent`));
  if (refused) msgs.push(t(`${refused} 条被拒绝，请查看`, `${refused} refused, see the list`));
  bar.hidden = msgs.length === 0;
  bar.textContent = msgs.join(' · ');
  if (queued || refused) {
    const a = document.createElement('a');
    a.href = '/app/outbox';
    a.textContent = t(' 查看', ' View');
    bar.append(a);
  }
}

async function flushOutbox() {
  let outcomes = [];
  try {
    const waiting = await outbox.list();
    if (waiting.some((i) => i.state === 'queued')) outcomes = await outbox.flush();
  } catch (_) { /* stays queued */ }
  await refreshNet();
  // Pages show what became of what they signed (detail.outcomes: wl-outbox.js flush's).
  document.dispatchEvent(new CustomEvent('wl:outbox', { detail: { outcomes } }));
}

async function autoLogin() {
  const state = document.getElementById('device-state');
  const fp = document.getElementById('device-fp');
  const info = await keys.info();
  if (!info) {
    if (state) state.textContent = t('本机还没有密钥：请登记本机，或导入单位密钥文件。', 'This device has no key yet: enrol it, or import a key file.');
    return;
  }
  if (fp) { fp.hidden = false; fp.textContent = info.fingerprint; }
  if (sessionStorage.getItem('wl_signed_out')) {
    if (state) state.textContent = t('已退出登录。', 'Signed out.');
    const b = document.createElement('button');
    b.className = 'primary big';
    b.textContent = t('用本机密钥登录', "Sign in with this device's key");
    b.onclick = () => { sessionStorage.removeItem('wl_signed_out'); autoLogin(); };
    state && state.after(b);
    return;
  }
  if (state) state.textContent = t('正在用本机密钥登录…', "Signing in with this device's key…");
  try {
    const r = await login();
    if (r.ok) { location.reload(); return; }
    if (state) {
      state.className = 'state pending';
      state.textContent = r.problem && r.problem.type === 'key-not-approved'
        ? t('本机密钥尚未被单位批准（或已撤销、过期）。请单位管理员扫描登记页上的二维码批准。', "This device's key is not approved by a company (or was revoked or expired). Ask your company's clerk to scan the code on the enrol page.")
        : await problemText(r.problem);
    }
  } catch (_) {
    if (state) state.textContent = t('无法连接服务器：离线时仍可扫码验证。', 'Cannot reach the server: you can still check codes offline.');
  }
}

document.getElementById('logout')?.addEventListener('click', async () => {
  sessionStorage.setItem('wl_signed_out', '1');
  await fetch('/app/session', { method: 'DELETE' });
  await forgetPages();
  location.href = '/app';
});

if ('serviceWorker' in navigator) {
  // A page that loaded while the worker was still activating is not claimed by it (claim()
  // only takes pages that existed then), and would not work offline until the next page: ask
  // the active worker to take this one too.
  navigator.serviceWorker.register('/app/sw.js', { scope: '/app' })
    .then(() => navigator.serviceWorker.ready)
    .then((reg) => {
      if (!navigator.serviceWorker.controller && reg.active) reg.active.postMessage('claim');
    })
    .catch(() => { /* no offline */ });
}
// The manifest a page shows is the load this device works on (page-scan.js checks containers
// against it).
const opened = location.pathname.match(/^\/app\/m\/(\d{14})$/);
if (opened) localStorage.setItem('wl_load', opened[1]);
window.addEventListener('online', flushOutbox);
window.addEventListener('offline', refreshNet);
if (document.body.dataset.session === 'none' && document.getElementById('device')) autoLogin();
flushOutbox();
