// page-receive.js: the gate actions on the manifest page (m-receive.html), for the station or
// receiver holding the load: weigh (`custody.weighed`), receive line by line with a rejection
// (`custody.received`), treat with an R/D code (`custody.treated`), and at a station
// consolidate loads into one (`station.consolidated`) or split one (`station.split`).
//
// Each form is checked here first (a mistake is shown next to its field in the page's
// language), then what will be signed is shown in words for confirmation; on confirm the event
// is signed with this device's key (wl-sign.js) and posted (wl-app.js postSigned). A refusal
// is shown next to the field it names. After the log's answer the manifest is read again
// (`GET /v1/manifests/{number}`) and the flags the new entry raised are shown at once, with
// what the log now says, before the clerk goes on.
//
// Quantities are typed in kilograms (or litres) with up to 3 decimals and sent as integer
// grams (or millilitres): no floating point between what is typed and what is signed.

import { signEvent } from './wl-sign.js';
import { toMilli, fromMilli } from './wl-format.js';
import { t, zh, words, showProblem, clearProblems, postSigned, flagList, showRows } from './wl-app.js';

const gate = document.getElementById('gate');
const number = document.getElementById('actions').dataset.number;
const before = JSON.parse(document.getElementById('manifest-data').textContent);
const party = gate.dataset.party;

/** A problem found here, before anything is signed. */
const local = (field, text) => ({ type: 'bad-field', field, text });

const unitWords = (u) => (u === 'ml' ? t('升', 'L') : t('千克', 'kg'));

/** The amount typed in `input` (base units), or a problem naming `field`. */
function amount(input, field, { positive = false } = {}) {
  const v = toMilli(input.value);
  if (v === null) throw local(field, t('请填写数字，最多三位小数', 'Enter a number with at most 3 decimals'));
  if (positive && v === 0) throw local(field, t('必须大于 0', 'Must be above 0'));
  return v;
}

// ---- confirm, sign, post, show what the log says -----------------------------------------

function confirmBox(form, rows, onSign) {
  const box = form.querySelector('.confirm');
  const submit = form.querySelector('button[type=submit]');
  box.replaceChildren();
  const h = document.createElement('h3');
  h.textContent = t('请核对将要签名的内容', 'Check what you are about to sign');
  const dl = document.createElement('dl');
  dl.className = 'kv';
  showRows(dl, rows);
  const acts = document.createElement('div');
  acts.className = 'actions';
  const sign = document.createElement('button');
  sign.type = 'button';
  sign.className = 'primary big confirm-sign';
  sign.textContent = t('确认并签名提交', 'Confirm, sign and submit');
  const back = document.createElement('button');
  back.type = 'button';
  back.className = 'big confirm-back';
  back.textContent = t('返回修改', 'Back to edit');
  acts.append(sign, back);
  box.append(h, dl, acts);
  box.hidden = false;
  submit.hidden = true;
  const close = () => { box.hidden = true; submit.hidden = false; };
  back.onclick = close;
  sign.onclick = async () => {
    sign.disabled = back.disabled = true;
    try {
      await onSign(close);
    } finally {
      sign.disabled = back.disabled = false;
    }
  };
  box.scrollIntoView({ block: 'center' });
}

async function signAndPost(form, event, stepWords, close, explain) {
  let r;
  try {
    r = await postSigned(await signEvent(event));
  } catch (err) {
    close();
    await showProblem(form, { type: 'network', text: t('无法连接服务器，未提交：请联网后重试', 'Cannot reach the server; nothing was submitted: try again when online') });
    return;
  }
  if (!r.ok) {
    close();
    const p = rephrase(r.body, form);
    await showProblem(form, p);
    if (p && p.refresh) {
      const slot = [...form.querySelectorAll('[data-error-for]')].find((e) => !e.hidden);
      const again = document.createElement('button');
      again.type = 'button';
      again.className = 'refresh';
      again.textContent = t('联单可能已有变化：刷新页面', 'The load may have changed: reload the page');
      again.onclick = () => location.reload();
      slot?.append(document.createElement('br'), again);
    }
    return;
  }
  await showDone(stepWords, r.body, explain);
}

/** A refusal the clerk can act on, in the page's words where we know the rule behind it. */
function rephrase(p, form) {
  if (!p || !zh) return p;
  const between = /between 1 and (\d+)/.exec(p.detail || '');
  if (p.field === 'event.quantity.amount' && between) {
    const label = form.querySelector('#t-line')?.selectedOptions[0]?.dataset.label || '';
    return { ...p, text: `处置量超过尚未处置的接收量：最多 ${fromMilli(Number(between[1]))} ${label}` };
  }
  // The load moved on since the page was drawn (another desk, the driver): say what to do.
  if (/:(wrong-signer|wrong-state|not-holder)$/.test(p.type || '')) {
    return { ...p, refresh: true };
  }
  return p;
}

async function showDone(stepWords, answer, said) {
  const w = await words();
  let fresh = null;
  try {
    const r = await fetch(`/v1/manifests/${number}`, { credentials: 'same-origin' });
    if (r.ok) fresh = await r.json();
  } catch (_) { /* shown without it */ }
  const panel = document.getElementById('gate-done');
  panel.replaceChildren();
  const head = document.createElement('p');
  head.className = 'state ok';
  head.textContent = `${t('已记入日志', 'Logged')}：${stepWords} · ${t('日志序号', 'entry')} ${answer.index}`;
  panel.append(head);
  if (fresh) {
    const st = document.createElement('p');
    st.id = 'done-status';
    st.textContent = `${t('联单状态', 'Status')}：${(w.status || {})[fresh.status] || ''}`;
    panel.append(st);
    // The flags this very entry raised.
    const raised = await flagList((fresh.flags || []).filter((f) => f.index === answer.index), said);
    if (raised) {
      panel.append(raised);
      panel.classList.add('flagged');
    }
  }
  for (const n of answer.manifests || []) {
    const p = document.createElement('p');
    const a = document.createElement('a');
    a.href = `/app/m/${n}`;
    a.className = 'mono';
    a.textContent = n;
    p.append(`${t('新联单', 'New manifest')} `, a);
    panel.append(p);
  }
  const go = document.createElement('button');
  go.type = 'button';
  go.id = 'done-next';
  go.className = 'primary big';
  go.textContent = t('继续办理', 'Go on');
  go.onclick = () => location.reload();
  panel.append(go);
  document.getElementById('gate-forms').hidden = true;
  panel.hidden = false;
  panel.scrollIntoView({ block: 'start' });
}

/** Wire a form: check and build on submit, confirm, then sign and post. */
function step(form, stepWords, build) {
  if (!form) return;
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    clearProblems(form);
    let made;
    try {
      made = build();
    } catch (p) {
      if (p && p.field !== undefined) { await showProblem(form, p); return; }
      throw p;
    }
    confirmBox(form, made.rows, (close) => signAndPost(form, made.event, stepWords, close, made.explain));
  });
}

// ---- weigh -------------------------------------------------------------------------------

const weigh = document.getElementById('weigh-form');
if (weigh) {
  const net = () => {
    const g = toMilli(weigh.querySelector('#w-gross').value);
    const ta = toMilli(weigh.querySelector('#w-tare').value);
    document.getElementById('w-net').textContent = g !== null && ta !== null && g >= ta ? fromMilli(g - ta) : '—';
  };
  weigh.addEventListener('input', net);
  step(weigh, t('过磅', 'weighed'), () => {
    const site = weigh.querySelector('#w-site');
    const ticket = weigh.querySelector('#w-ticket').value.trim();
    if (!ticket) throw local('event.ticket', t('请填写磅单号', 'Enter the ticket number'));
    const gross = amount(weigh.querySelector('#w-gross'), 'event.gross', { positive: true });
    const tare = amount(weigh.querySelector('#w-tare'), 'event.tare');
    if (tare >= gross) throw local('event.tare', t('皮重必须小于毛重', 'Tare must be below gross'));
    const g = (amount) => ({ amount, unit: 'g' });
    const event = {
      type: 'custody.weighed', manifest: number, site: site.value, ticket,
      gross: g(gross), tare: g(tare), net: g(gross - tare), at: new Date().toISOString(),
    };
    // What the ticket is held against: the last counts before it (grams), as the log does.
    const counted = (before.quantities || []).filter((q) => q.unit === 'g').reduce((a, q) => a + q.amount, 0);
    return {
      event,
      explain: (f) => (f.kind === 'quantity_gap'
        ? t(`磅单净重 ${fromMilli(gross - tare)} 千克，此前计量 ${fromMilli(counted)} 千克`, `net ${fromMilli(gross - tare)} kg against ${fromMilli(counted)} kg counted before`)
        : ''),
      rows: [
        [t('联单', 'Manifest'), number],
        [t('地磅所在场所', 'Weighbridge at'), site.selectedOptions[0]?.textContent || site.value],
        [t('磅单号', 'Ticket'), ticket],
        [t('毛重', 'Gross'), `${fromMilli(gross)} ${t('千克', 'kg')}`],
        [t('皮重', 'Tare'), `${fromMilli(tare)} ${t('千克', 'kg')}`],
        [t('净重', 'Net'), `${fromMilli(gross - tare)} ${t('千克', 'kg')}`],
      ],
    };
  });
}

// ---- receive -----------------------------------------------------------------------------

const receive = document.getElementById('receive-form');
if (receive) {
  const lines = [...receive.querySelectorAll('fieldset.gate-line')];
  const sync = () => {
    let any = false;
    for (const fs of lines) {
      const rej = toMilli(fs.querySelector('.r-rej').value);
      const acc = toMilli(fs.querySelector('.r-acc').value);
      const last = toMilli(fs.querySelector('.r-acc').dataset.last);
      // A rejection, or a count short of the last one, has a kind of discrepancy.
      const odd = (rej !== null && rej > 0) || (acc !== null && rej !== null && acc + rej !== last);
      fs.querySelector('.r-disc').hidden = !odd;
      any = any || (rej !== null && rej > 0);
    }
    document.getElementById('r-rejection').hidden = !any;
  };
  receive.addEventListener('input', sync);
  sync();
  step(receive, t('接收', 'received'), () => {
    const out = [];
    const rows = [[t('联单', 'Manifest'), number]];
    let rejected = false;
    for (const fs of lines) {
      const i = Number(fs.dataset.line);
      const unit = fs.dataset.unit;
      const acc = amount(fs.querySelector('.r-acc'), `event.lines[${i}].accepted`);
      const rej = amount(fs.querySelector('.r-rej'), `event.lines[${i}].rejected`);
      const line = { line: i, accepted: { amount: acc, unit }, rejected: { amount: rej, unit } };
      const disc = fs.querySelector('.r-disc select');
      if (!fs.querySelector('.r-disc').hidden && disc.value) line.discrepancy = disc.value;
      if (rej > 0 && !line.discrepancy) {
        throw local(`event.lines[${i}].discrepancy`, t('有拒收时请选择差异类型', 'Choose the kind of discrepancy for a rejection'));
      }
      rejected = rejected || rej > 0;
      out.push(line);
      const u = unitWords(unit);
      let said = `${t('接收', 'accepted')} ${fromMilli(acc)} ${u}`;
      if (rej > 0) said += ` · ${t('拒收', 'rejected')} ${fromMilli(rej)} ${u}（${disc.selectedOptions[0].textContent}）`;
      rows.push([`${t('第', 'Line ')}${i + 1}${t('行', '')}`, said]);
    }
    if (out.every((l) => l.accepted.amount === 0 && l.rejected.amount === 0)) {
      throw local('event.lines', t('接收量与拒收量不能全为 0', 'Accepted and rejected cannot all be 0'));
    }
    const event = { type: 'custody.received', manifest: number, lines: out };
    if (rejected) {
      const to = receive.querySelector('#r-to');
      const reason = receive.querySelector('#r-reason').value.trim();
      if (!reason) throw local('event.rejection.reason', t('请填写拒收原因', 'Say why it is rejected'));
      event.rejection = { reason, to: to.value };
      rows.push([t('拒收部分退回给', 'Rejected part goes to'), to.selectedOptions[0].textContent]);
      rows.push([t('拒收原因', 'Why'), reason]);
    }
    return { event, rows };
  });
}

// ---- treat -------------------------------------------------------------------------------

const treat = document.getElementById('treat-form');
if (treat) {
  const line = treat.querySelector('#t-line');
  const qty = treat.querySelector('#t-qty');
  const pick = () => {
    const o = line.selectedOptions[0];
    if (!o) return;
    document.getElementById('t-unit').textContent = o.dataset.label;
    qty.value = o.dataset.openText;
  };
  line.addEventListener('change', pick);
  pick();
  step(treat, t('利用处置', 'treated'), () => {
    const o = line.selectedOptions[0];
    if (!o) throw local('event.line', t('没有待处置的行', 'No line is left to treat'));
    const code = treat.querySelector('#t-code');
    if (!code.value) throw local('event.code', t('请选择利用处置方式', 'Choose the operation'));
    const q = amount(qty, 'event.quantity', { positive: true });
    if (q > Number(o.dataset.open)) {
      throw local('event.quantity', t(`超过待处置量 ${o.dataset.openText} ${o.dataset.label}`, `More than the ${o.dataset.openText} ${o.dataset.label} open`));
    }
    const event = {
      type: 'custody.treated', manifest: number, line: Number(line.value), code: code.value,
      quantity: { amount: q, unit: o.dataset.unit },
    };
    return {
      event,
      rows: [
        [t('联单', 'Manifest'), number],
        [t('废物行', 'Line'), o.textContent],
        [t('利用处置方式', 'Operation'), code.selectedOptions[0].textContent],
        [t('处置量', 'Quantity'), `${fromMilli(q)} ${o.dataset.label}`],
      ],
    };
  });
}

// ---- station: consolidate, split ---------------------------------------------------------

/** Lines of several loads as one load's: the same waste (code or type, name, form, unit)
 *  becomes one line, its quantities added and its containers kept. */
function mergeLines(all) {
  const out = [];
  for (const l of all) {
    const same = out.find((o) => o.code === l.code && o.cw_type === l.cw_type && o.name === l.name
      && o.form === l.form && o.quantity.unit === l.quantity.unit);
    if (same) {
      same.quantity = { amount: same.quantity.amount + l.quantity.amount, unit: l.quantity.unit };
      same.containers = [...(same.containers || []), ...(l.containers || [])];
      same.hazards = [...new Set([...(same.hazards || []), ...(l.hazards || [])])];
    } else {
      out.push(structuredClone(l));
    }
  }
  return out;
}

const what = (l) => `${l.code || ''} ${l.name}`.trim();

const consolidate = document.getElementById('consolidate-form');
if (consolidate) {
  step(consolidate, t('合并转运', 'consolidated'), () => {
    const picked = [...consolidate.querySelectorAll('input[name=input]:checked')];
    if (!picked.length) throw local('event.inputs', t('请至少再选一批在站货物', 'Choose at least one more load held here'));
    const dest = consolidate.querySelector('.dest');
    const hauler = consolidate.querySelector('.hauler');
    if (!dest.value) throw local('event.output.destination', t('请选择去向', 'Choose where it goes'));
    if (!hauler.value) throw local('event.output.haulers', t('请选择运输单位', 'Choose the hauler'));
    const lines = mergeLines([
      ...JSON.parse(consolidate.dataset.lines),
      ...picked.flatMap((p) => JSON.parse(p.dataset.lines)),
    ]);
    const event = {
      type: 'station.consolidated', station: party,
      inputs: [number, ...picked.map((p) => p.value)],
      output: { destination: dest.value, haulers: [hauler.value], lines },
    };
    return {
      event,
      rows: [
        [t('合并的联单', 'Manifests'), event.inputs.join('、')],
        [t('新去向', 'Goes on to'), dest.selectedOptions[0].textContent],
        [t('计划运输单位', 'Planned hauler'), hauler.selectedOptions[0].textContent],
        ...lines.map((l, i) => [`${t('第', 'Line ')}${i + 1}${t('行', '')}`, `${what(l)} · ${fromMilli(l.quantity.amount)} ${unitWords(l.quantity.unit)}`]),
      ],
    };
  });
}

const split = document.getElementById('split-form');
if (split) {
  step(split, t('拆分转运', 'split'), () => {
    const mine = JSON.parse(split.dataset.lines);
    const outputs = [];
    const rows = [[t('拆分的联单', 'Manifest'), number]];
    const sums = mine.map(() => 0);
    for (const fs of split.querySelectorAll('fieldset.split-part')) {
      const k = Number(fs.dataset.part);
      const dest = fs.querySelector('.dest');
      const hauler = fs.querySelector('.hauler');
      const lines = [];
      for (const input of fs.querySelectorAll('.s-q')) {
        const i = Number(input.dataset.line);
        const q = amount(input, `event.outputs[${k}].lines`);
        sums[i] += q;
        if (q > 0) lines.push({ ...structuredClone(mine[i]), containers: [], quantity: { amount: q, unit: mine[i].quantity.unit } });
      }
      if (!lines.length) throw local(`event.outputs[${k}].lines`, t('每车至少装一行', 'Each load carries at least one line'));
      outputs.push({ destination: dest.value, haulers: [hauler.value], lines });
      rows.push([
        `${t('第', 'Load ')}${k + 1}${t('车', '')}`,
        `${dest.selectedOptions[0].textContent} · ${hauler.selectedOptions[0].textContent} · ${lines.map((l) => `${what(l)} ${fromMilli(l.quantity.amount)} ${unitWords(l.quantity.unit)}`).join('；')}`,
      ]);
    }
    mine.forEach((l, i) => {
      if (sums[i] !== l.quantity.amount) {
        const n = outputs.length;
        throw local('event.outputs', t(`第${i + 1}行：${n === 2 ? '两' : n}车合计 ${fromMilli(sums[i])}，应为 ${fromMilli(l.quantity.amount)}`, `line ${i + 1}: the loads add up to ${fromMilli(sums[i])}, not ${fromMilli(l.quantity.amount)}`));
      }
    });
    return { event: { type: 'station.split', station: party, input: number, outputs }, rows };
  });
  // "再加一车": one more outgoing load, a copy of the last one's choices with nothing on it.
  document.getElementById('split-add').addEventListener('click', () => {
    const parts = split.querySelectorAll('fieldset.split-part');
    const last = parts[parts.length - 1];
    const k = parts.length;
    const fs = last.cloneNode(true);
    const renumber = (v) => v.replace(/^(s-(?:dest|hauler|q))-\d+/, `$1-${k}`).replace(/outputs\[\d+\]/, `outputs[${k}]`);
    fs.dataset.part = String(k);
    fs.querySelector('legend').textContent = `${t('第', 'Load ')}${k + 1}${t('车', '')}`;
    for (const e of fs.querySelectorAll('[id]')) e.id = renumber(e.id);
    for (const e of fs.querySelectorAll('label[for]')) e.htmlFor = renumber(e.htmlFor);
    for (const e of fs.querySelectorAll('[data-field]')) e.dataset.field = renumber(e.dataset.field);
    for (const e of fs.querySelectorAll('[data-error-for]')) {
      e.dataset.errorFor = renumber(e.dataset.errorFor);
      e.hidden = true;
      e.textContent = '';
    }
    for (const e of fs.querySelectorAll('[aria-invalid]')) e.removeAttribute('aria-invalid');
    fs.querySelector('.dest').value = last.querySelector('.dest').value;
    fs.querySelector('.hauler').value = last.querySelector('.hauler').value;
    for (const q of fs.querySelectorAll('.s-q')) q.value = '0';
    last.after(fs);
    fs.querySelector('.s-q')?.focus();
  });
}

// The forms are drawn with their buttons off: on until this script has taken them over, so a
// quick click never submits a form natively.
for (const b of gate.querySelectorAll('button[type=submit]')) b.disabled = false;
gate.dataset.status = before.status || '';
gate.dataset.ready = '1';
