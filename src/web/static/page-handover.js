// page-handover.js: the hand-over on the manifest page (/app/m/{number}, m-handover.html).
//  - The party holding the load fills "hand over to…" (taker, the taker's truck and driver,
//    the count per line in kg or L, the time in China time, the place), checks one confirm
//    screen that lists every field the event will hold, and signs it with this device's key
//    (wl-sign.js signEvent). POST /v1/events answers 202: the half waits in the pending tree.
//  - The half is then shown as a QR code (GET /app/pending/{hash}/qr.svg, the WLH1 hand-over
//    code) with its text, and a status that turns green once the log holds the completed
//    hand-over (polls GET /app/pending/{hash}).
//  - Halves the other party signed first are listed; "countersign" fetches the half
//    (GET /v1/pending/{hash}), checks it is the one listed, adds this device's signature
//    (wl-sign.js countersign) and submits it. A refusal is shown in the page's language next
//    to the field it names (or next to the list item).
// Quantities are entered as people write them (kg or L, up to 3 decimals) and sent as integer
// grams or millilitres; the time is the minute entered in China time (UTC+8), sent as RFC 3339
// UTC with milliseconds; left at the prefilled minute, it is the moment of signing.

import { signEvent, countersign } from './wl-sign.js';
import { canonicalize } from './wl-canon.js';
import { toMilli, fromMilli, cst } from './wl-format.js';
import { t, zh, clearProblems, problemText, postSigned, showRaised, showRows, takeOver } from './wl-app.js';

const root = document.getElementById('handover');
const number = root && root.dataset.number;
const form = document.getElementById('handover-form');

/** Problem types as words (the server's `type`, without its URN prefix). */
const KINDS = {
  'refused': ['不符合要求', 'not accepted'],
  'unknown-reference': ['日志中没有登记', 'not registered in the log'],
  'not-holder': ['不是当前持有方', 'not the party holding the load'],
  'wrong-state': ['联单当前状态不允许', 'not possible in the manifest\'s state'],
  'wrong-signer': ['签名方不符', 'not signed by the right party'],
  'replay': ['已经提交过', 'already in the log'],
  'bad-signature': ['签名无效', 'the signature does not verify'],
  'too-many-pending': ['等待会签的交接过多', 'too many hand-overs waiting'],
};

/** Put a refusal next to the element for its field (within `scope`), in the page's language:
 *  the field's own label, what is wrong, and the server's words for whoever must fix it. */
async function refuse(scope, problem, fallbackLabel) {
  let f = (problem && problem.field) || '';
  let slot = null;
  for (;;) {
    slot = scope.querySelector(`[data-error-for="${CSS.escape(f)}"]`);
    if (slot || !f) break;
    const cut = Math.max(f.lastIndexOf('.'), f.lastIndexOf('['));
    f = cut > 0 ? f.slice(0, cut) : '';
  }
  slot = slot || scope.querySelector('[data-error-for]');
  const input = f && scope.querySelector(`[data-field="${CSS.escape(f)}"]`);
  const label = (input && input.id && scope.querySelector(`label[for="${input.id}"]`)?.textContent.trim()) || fallbackLabel || '';
  const type = ((problem && problem.type) || '').replace(/^urn:wasteledger:problem:/, '');
  const kind = KINDS[type];
  let text;
  if (problem && problem.local) text = problem.detail;
  else if (kind) text = (label ? `${label}${zh ? '：' : ': '}` : '') + (zh ? kind[0] : kind[1]);
  else text = await problemText(problem);
  slot.textContent = text;
  if (problem && problem.detail && !problem.local) {
    // The log's own sentence (English), folded: it names the rule and the values.
    const d = document.createElement('details');
    const s = document.createElement('summary');
    s.textContent = t('日志的说明', "The log's explanation");
    const c = document.createElement('code');
    c.textContent = problem.detail;
    d.append(s, c);
    slot.append(d);
  }
  slot.hidden = false;
  if (input) { input.setAttribute('aria-invalid', 'true'); input.focus(); }
  slot.scrollIntoView({ block: 'center' });
}

/** A datetime-local value (China time) → RFC 3339 UTC with milliseconds. */
function cstToUtc(local) {
  const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})$/.exec(local || '');
  if (!m) return null;
  const ms = Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4] - 8, +m[5]);
  return new Date(ms).toISOString();
}

function nowLocal() {
  const d = new Date(Date.now() + 8 * 3600000).toISOString();
  return d.slice(0, 16);
}

function selected(sel) {
  return sel && sel.selectedIndex >= 0 ? sel.options[sel.selectedIndex] : null;
}

// ---------------------------------------------------------------------------------------------
// The form and its confirm screen
// ---------------------------------------------------------------------------------------------

let prefilledAt = '';
let draft = null;

function onTaker() {
  const to = selected(form.to);
  const hauler = !!(to && to.dataset.hauler);
  document.getElementById('ho-truck').hidden = !hauler;
  for (const sel of [form.vehicle, form.driver]) {
    let keep = false;
    for (const o of sel.options) {
      if (!o.value) continue;
      const mine = o.dataset.party === (to && to.value);
      o.hidden = !mine;
      o.disabled = !mine;
      if (mine && o.selected) keep = true;
    }
    if (!keep) sel.value = '';
  }
  // One registered truck: chosen already.
  const trucks = [...form.vehicle.options].filter((o) => o.value && !o.disabled);
  if (trucks.length === 1 && !form.vehicle.value) form.vehicle.value = trucks[0].value;
  const place = to && to.dataset.siteName;
  document.getElementById('ho-place').textContent = place || '';
  document.getElementById('ho-place-row').hidden = !place;
}

/** The event the form describes, and its rows in words; or a local refusal. */
function build() {
  const to = selected(form.to);
  if (!to) return { problem: { local: true, field: 'event.to', detail: t('请选择接收方', 'Choose who takes the load') } };
  const event = {
    type: 'custody.handover',
    manifest: number,
    from: root.dataset.from,
    to: to.value,
  };
  const rows = [
    [t('联单', 'Manifest'), number],
    [t('交出方', 'Handed over by'), root.dataset.fromName],
    [t('接收方', 'Taken by'), to.textContent.trim()],
  ];
  if (to.dataset.hauler) {
    if (!form.vehicle.value) {
      return { problem: { local: true, field: 'event.vehicle', detail: t('请选择接收方的车辆（车牌）', "Choose the taker's truck (plate)") } };
    }
    event.vehicle = form.vehicle.value;
    rows.push([t('车辆', 'Truck'), form.vehicle.value]);
    if (form.driver.value) {
      event.driver_id = form.driver.value;
      rows.push([t('驾驶员', 'Driver'), selected(form.driver).textContent.trim()]);
    }
  }
  if (to.dataset.site) {
    event.site = to.dataset.site;
    rows.push([t('地点', 'Place'), to.dataset.siteName]);
  }
  const local = form.at.value;
  const at = local === prefilledAt && local === nowLocal() ? new Date().toISOString() : cstToUtc(local);
  if (!at) return { problem: { local: true, field: 'event.at', detail: t('请填写交接时间（年-月-日 时:分）', 'Enter the time (date, hour and minute)') } };
  event.at = at;
  rows.push([t('时间', 'Time'), cst(at)]);
  event.lines = [];
  for (const input of form.querySelectorAll('input[data-line]')) {
    const i = Number(input.dataset.line);
    const amount = toMilli(input.value);
    const label = form.querySelector(`label[for="${input.id}"]`).textContent.trim();
    if (amount === null) {
      return {
        problem: {
          local: true,
          field: `event.lines[${i}].quantity`,
          detail: input.value.trim()
            ? t(`${label}：数量应为数字（${input.dataset.unitWord}，最多三位小数）`, `${label}: a number (${input.dataset.unitWord}, at most 3 decimals)`)
            : t(`${label}：请填写数量（${input.dataset.unitWord}）`, `${label}: enter the quantity (${input.dataset.unitWord})`),
        },
      };
    }
    event.lines.push({ line: i, quantity: { amount, unit: input.dataset.unit } });
    rows.push([label, `${fromMilli(amount)} ${input.dataset.unitWord}`]);
  }
  return { event, rows };
}

function confirmScreen(on) {
  form.hidden = on;
  document.getElementById('ho-confirm').hidden = !on;
}

// The picker draws the time in the phone's own locale (12/03/2026, 05:43 PM on an English
// phone): say it once more as the manifest writes times, so nobody reads the day for the month.
function sayAt() {
  const v = form.at.value;
  document.getElementById('ho-at-said').textContent = v
    ? `${t('即', 'That is')} ${v.replace('T', ' ')}${t('（北京时间）', ' CST')}`
    : t('请选择日期和时间', 'Choose a date and time');
}

if (form) {
  prefilledAt = form.at.value = nowLocal();
  form.at.addEventListener('input', sayAt);
  form.at.addEventListener('change', sayAt);
  sayAt();
  form.to.addEventListener('change', onTaker);
  onTaker();
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    clearProblems(form);
    const b = build();
    if (b.problem) { await refuse(form, b.problem); return; }
    draft = b;
    showRows(document.getElementById('ho-rows'), b.rows);
    confirmScreen(true);
    document.getElementById('give').scrollIntoView({ block: 'start' });
  });
  document.getElementById('ho-back').addEventListener('click', () => confirmScreen(false));
  document.getElementById('ho-sign').addEventListener('click', async (e) => {
    const btn = e.currentTarget;
    btn.disabled = true;
    try {
      const r = await postSigned(await signEvent(draft.event));
      if (r.status === 202 && r.body && r.body.pending) {
        document.getElementById('give').hidden = true;
        showCode(r.body.pending);
      } else if (r.ok) {
        document.getElementById('give').hidden = true;
        const s = document.getElementById('ho-status');
        document.getElementById('ho-code').hidden = false;
        done(s, r.body.index);
      } else {
        confirmScreen(false);
        await refuse(form, r.body);
      }
    } catch (err) {
      confirmScreen(false);
      await refuse(form, { local: true, field: '', detail: `${t('未能签名或提交：', 'Could not sign or send: ')}${err.message || err}` });
    } finally {
      btn.disabled = false;
    }
  });
}

// ---------------------------------------------------------------------------------------------
// A half shown as a code, and its live status
// ---------------------------------------------------------------------------------------------

function done(status, index) {
  status.className = 'state ok';
  status.textContent = `${t('交接完成：已记入日志，序号', 'Hand-over complete: in the log at entry')} ${index}`;
  settled(status);
  showRaised(status, number, index);
}

/** The load has changed hands: the form no longer applies; the page offers its new state. */
function settled(after) {
  const give = document.getElementById('give');
  if (give) give.hidden = true;
  const a = document.createElement('a');
  a.className = 'button big';
  a.href = location.pathname + location.search;
  a.textContent = t('刷新，查看联单最新状态', "Reload: the manifest's new state");
  after.after(a);
}

let polling = null;

async function showCode(hash) {
  const box = document.getElementById('ho-code');
  const status = document.getElementById('ho-status');
  box.hidden = false;
  document.getElementById('ho-qr').src = `/app/pending/${hash}/qr.svg`;
  box.dataset.hash = hash;
  box.scrollIntoView({ block: 'start' });
  clearInterval(polling);
  const poll = async () => {
    try {
      const r = await fetch(`/app/pending/${hash}`, { credentials: 'same-origin' });
      if (!r.ok) return;
      const p = await r.json();
      document.getElementById('ho-code-text').textContent = p.code;
      if (p.completed) {
        clearInterval(polling);
        done(status, p.completed_index);
      }
    } catch (_) { /* offline: try again */ }
  };
  await poll();
  polling = setInterval(poll, 2000);
}

for (const b of document.querySelectorAll('[data-show-code]')) {
  b.addEventListener('click', () => showCode(b.closest('[data-hash]').dataset.hash));
}

// ---------------------------------------------------------------------------------------------
// Countersigning a half the other party signed first
// ---------------------------------------------------------------------------------------------

function listedEvent(hash) {
  try {
    const data = JSON.parse(document.getElementById('manifest-data').textContent);
    const p = (data.pending || []).find((x) => x.hash === hash);
    return p ? p.event : null;
  } catch (_) {
    return null;
  }
}

for (const b of document.querySelectorAll('[data-countersign]')) {
  b.addEventListener('click', async () => {
    const li = b.closest('[data-hash]');
    const hash = li.dataset.hash;
    const state = li.querySelector('[data-state]');
    clearProblems(li);
    state.hidden = true;
    b.disabled = true;
    try {
      const r = await fetch(`/v1/pending/${hash}`, { credentials: 'same-origin' });
      if (!r.ok) { await refuse(li, await r.json().catch(() => null)); return; }
      const half = await r.json();
      const shown = listedEvent(hash);
      if (!shown || canonicalize(shown) !== canonicalize(half.event)) {
        await refuse(li, { local: true, detail: t('这份交接与列表中显示的不一致，未签名：请刷新页面。', 'This hand-over differs from the one listed; nothing was signed: reload the page.') });
        return;
      }
      const answer = await postSigned(await countersign(half));
      if (answer.ok) {
        state.hidden = false;
        state.className = 'state ok';
        state.textContent = `${t('已会签：交接已记入日志，序号', 'Countersigned: the hand-over is in the log at entry')} ${answer.body.index}`;
        b.hidden = true;
        settled(state);
        await showRaised(state, number, answer.body.index);
      } else {
        await refuse(li, answer.body, t('这份交接', 'This hand-over'));
      }
    } catch (err) {
      await refuse(li, { local: true, detail: `${t('未能会签或提交：', 'Could not countersign or send: ')}${err.message || err}` });
    } finally {
      b.disabled = false;
    }
  });
}

// Every handler is in place: the buttons may be used (a press before the script ran would have
// done nothing, so they wait disabled until now).
for (const part of [form, document.getElementById('for-me'), document.getElementById('mine')]) takeOver(part);
