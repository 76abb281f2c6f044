// page-issue.js: /app/issue. The generator's clerk fills the manifest; this script builds
// `manifest.issued` exactly as src/domain/events.rs reads it (quantities as integer grams or
// millilitres, containers with generated ids), checks what a browser can (required fields,
// numbers, the code's shape) and shows each message under its field, then signs the event
// with this device's key and posts it. The log allocates the manifest number: on success the
// page goes to /app/m/{number}; a refusal is shown next to the field it names.
//
// Exports (for tests and other pages):
//   toBase(text, unit) -> {amount, unit} | {error}   '0.34', 't' → {amount: 340000, unit: 'g'}
//   containerIds(rows) -> [[id…]…]                   ids per row, numbered per letter: D1, D2…

import { signEvent } from './wl-sign.js';
import { t, showProblem, clearProblems, postSigned, takeOver } from './wl-app.js';

/** How many base units (g or ml) one of each unit the form offers is, and the base unit. */
const UNITS = {
  kg: { base: 'g', digits: 3 },
  t: { base: 'g', digits: 6 },
  L: { base: 'ml', digits: 3 },
  m3: { base: 'ml', digits: 6 },
};

/** A decimal number typed by a person in `unit`, as integer base units; exact (no floats). */
export function toBase(text, unit) {
  const u = UNITS[unit];
  const s = String(text || '').trim().replace(/[，,\s]/g, '').replace('。', '.');
  if (!u) return { error: t('请选择单位', 'choose a unit') };
  if (!s) return { error: t('请填写数量', 'enter a quantity') };
  const m = s.match(/^(\d*)(?:\.(\d*))?$/);
  if (!m || !/\d/.test(s)) return { error: t('应为数字，如 340 或 0.34', 'a number, e.g. 340 or 0.34') };
  const frac = (m[2] || '').replace(/0+$/, '');
  if (frac.length > u.digits) {
    return { error: t(`最多 ${u.digits} 位小数`, `at most ${u.digits} decimals`) };
  }
  const n = BigInt(m[1]) * 10n ** BigInt(u.digits) + BigInt((frac + '0'.repeat(u.digits)).slice(0, u.digits) || '0');
  if (n === 0n) return { error: t('数量必须大于零', 'the quantity must be above zero') };
  if (n > BigInt(Number.MAX_SAFE_INTEGER)) return { error: t('数量过大', 'too large') };
  return { amount: Number(n), unit: u.base };
}

/** Container ids for rows of {count, prefix}: each letter numbered on across the manifest. */
export function containerIds(rows) {
  const next = {};
  return rows.map((r) => {
    const ids = [];
    for (let i = 0; i < r.count; i++) {
      next[r.prefix] = (next[r.prefix] || 0) + 1;
      ids.push(`${r.prefix}${next[r.prefix]}`);
    }
    return ids;
  });
}

/** Whether a code's last two digits name a category of the list (HW01–HW50 but HW41–HW44). */
function categoryExists(code) {
  const n = Number(code.slice(-2));
  return n >= 1 && n <= 50 && !(n >= 41 && n <= 44);
}

const form = document.getElementById('issue-form');
if (form) init(form);

function init(form) {
  const lines = document.getElementById('lines');
  const lineTpl = document.getElementById('line-tpl');
  const rowTpl = document.getElementById('crow-tpl');
  const dest = form.destination;
  let uid = 0;

  const stream = () => form.querySelector('input[name=stream]:checked').value;
  const hazardous = () => stream() === 'hazardous';
  const lineEls = () => [...lines.querySelectorAll(':scope > fieldset.line')];
  const catalogEntry = (code) => {
    const o = document.querySelector(`#hw-codes option[value="${CSS.escape(code)}"]`);
    return o ? { name: o.dataset.name, hazards: o.dataset.hazards.split(' ').filter(Boolean), category: o.dataset.category, label: o.label } : null;
  };

  /** Give each line's inputs and error slots their field paths (0-based, as the server names them). */
  function renumber() {
    lineEls().forEach((l, i) => {
      l.querySelector('.line-n').textContent = t(`第${i + 1}行`, `Line ${i + 1}`);
      l.querySelectorAll('[data-k]').forEach((el) => {
        const k = el.dataset.k;
        const path = k === 'amount' || k === 'unit' ? 'quantity' : k === 'hazard' ? 'hazards' : k;
        if (!el.closest('.crow')) el.dataset.field = `event.lines[${i}].${path}`;
      });
      l.querySelectorAll('[data-e]').forEach((el) => { el.dataset.errorFor = `event.lines[${i}].${el.dataset.e}`; });
      l.querySelector('.remove-line').hidden = lineEls().length === 1;
    });
    showIds();
    destNote();
  }

  function wire(l) {
    const id = `l${++uid}`;
    l.querySelectorAll('[data-k]').forEach((el) => {
      if (el.type !== 'checkbox') el.id = `${id}-${el.dataset.k}`;
    });
    l.querySelectorAll('label[data-for]').forEach((lab) => { lab.htmlFor = `${id}-${lab.dataset.for}`; });
    const code = l.querySelector('[data-k=code]');
    const name = l.querySelector('[data-k=name]');
    const cw = l.querySelector('[data-k=cw_type]');
    const note = l.querySelector('.code-note');
    // The name follows the code (or type) until the clerk writes one of their own.
    name.addEventListener('input', () => { name.dataset.own = name.value ? '1' : ''; });
    const setName = (v) => { if (!name.dataset.own) name.value = v || ''; };
    code.addEventListener('input', () => {
      const c = code.value.trim();
      const e = catalogEntry(c);
      note.hidden = !c;
      if (e) {
        note.className = 'muted small code-note';
        note.textContent = `${e.category} · ${e.label}`;
        setName(e.name);
        l.querySelectorAll('[data-k=hazard]').forEach((h) => { h.checked = e.hazards.includes(h.value); });
      } else if (/^\d{3}-\d{3}-\d{2}$/.test(c) && !categoryExists(c)) {
        // The log decides (and refuses it); the clerk is told before signing.
        note.className = 'small code-note state bad';
        note.textContent = t(`末两位 ${c.slice(-2)} 不是《名录》中的废物类别（HW01–HW50，无 HW41–HW44）：日志不会接受此代码。`, `The last two digits ${c.slice(-2)} are not a category of the list (HW01–HW50 without HW41–HW44): the log will not accept this code.`);
      } else if (/^\d{3}-\d{3}-\d{2}$/.test(c)) {
        note.className = 'small code-note state pending';
        note.textContent = t('此代码不在本系统的名录中：仍可开具，联单会被标记“废物代码不在名录中”。', 'This code is not in the catalog here: you may still issue, and the manifest will be flagged "waste code not in the list".');
      } else {
        note.hidden = true;
      }
      destNote();
    });
    cw.addEventListener('change', () => { setName(cw.selectedOptions[0].dataset.name); destNote(); });
    if (!hazardous()) setName(cw.selectedOptions[0].dataset.name);
    l.querySelector('.remove-line').addEventListener('click', () => { l.remove(); renumber(); });
    l.querySelector('.add-container').addEventListener('click', () => addRow(l));
    const form_ = l.querySelector('[data-k=form]');
    const unit = l.querySelector('[data-k=unit]');
    form_.addEventListener('change', () => {
      // Liquids are usually declared by volume, everything else by mass.
      if (hazardous()) unit.value = form_.value === 'liquid' ? 'L' : 'kg';
    });
  }

  function addLine() {
    const l = lineTpl.content.firstElementChild.cloneNode(true);
    lines.append(l);
    wire(l);
    l.querySelector('[data-k=unit]').value = hazardous() ? 'kg' : 't';
    if (hazardous()) addRow(l);
    renumber();
    return l;
  }

  function addRow(l) {
    const r = rowTpl.content.firstElementChild.cloneNode(true);
    const id = `c${++uid}`;
    r.querySelectorAll('[data-k]').forEach((el) => { el.id = `${id}-${el.dataset.k}`; });
    const pk = r.querySelector('[data-k=packaging]');
    const litres = r.querySelector('[data-k=litres]');
    litres.value = pk.selectedOptions[0].dataset.litres;
    pk.addEventListener('change', () => { litres.value = pk.selectedOptions[0].dataset.litres; showIds(); });
    r.querySelector('[data-k=count]').addEventListener('input', showIds);
    r.querySelector('.remove-container').addEventListener('click', () => { r.remove(); showIds(); });
    l.querySelector('.crows').append(r);
    showIds();
    return r;
  }

  function rowsOf(l) {
    return [...l.querySelectorAll('.crow')].map((r) => {
      const pk = r.querySelector('[data-k=packaging]').selectedOptions[0];
      const count = Number(r.querySelector('[data-k=count]').value);
      return { el: r, count: Number.isInteger(count) && count > 0 && count <= 999 ? count : 0, prefix: pk.dataset.prefix, words: pk.value };
    });
  }

  /** Every row's container ids, numbered across the whole manifest. */
  function allIds() {
    const rows = lineEls().flatMap(rowsOf);
    const ids = containerIds(rows);
    return rows.map((r, i) => [r, ids[i]]);
  }

  function showIds() {
    for (const [r, ids] of allIds()) {
      const el = r.el.querySelector('.ids');
      el.textContent = ids.length ? `${t('编号', 'ids')} ${ids.length > 3 ? `${ids[0]}–${ids[ids.length - 1]}` : ids.join('、')}` : '';
    }
  }

  /** Whether the destination's licences cover each line (as far as the registry tells). */
  function destNote() {
    const note = document.getElementById('dest-note');
    document.querySelectorAll('.dest-scope').forEach((p) => { p.hidden = p.dataset.for !== dest.value; });
    const o = dest.selectedOptions[0];
    if (!o || !o.value) { note.hidden = true; return; }
    const covers = (o.dataset.covers || '').split(' ').filter(Boolean);
    const missing = [];
    lineEls().forEach((l, i) => {
      if (hazardous()) {
        const c = l.querySelector('[data-k=code]').value.trim();
        if (!/^\d{3}-\d{3}-\d{2}$/.test(c)) return;
        if (!covers.includes(c) && !covers.includes(`HW${c.slice(-2)}`)) missing.push(`${t(`第${i + 1}行`, `line ${i + 1}`)}（${c}）`);
      } else {
        const sel = l.querySelector('[data-k=cw_type]');
        if (!covers.includes(sel.value)) missing.push(`${t(`第${i + 1}行`, `line ${i + 1}`)}（${sel.selectedOptions[0].textContent}）`);
      }
    });
    note.hidden = false;
    if (missing.length) {
      note.className = 'small state pending';
      note.textContent = t(`该单位的许可不包括：${missing.join('、')}。仍可开具，联单会被标记“接收单位无此废物的经营许可”。`,
        `Its licences do not cover ${missing.join(', ')}. You may still issue; the manifest will be flagged "taker not licensed for this waste".`);
    } else {
      note.className = 'small state ok';
      note.textContent = t('该单位持有这些废物的有效许可。', 'It holds a valid licence for these wastes.');
    }
  }

  function streamChanged() {
    form.dataset.stream = stream();
    const h = hazardous();
    for (const l of lineEls()) {
      const unit = l.querySelector('[data-k=unit]');
      if (h && !['kg', 't', 'L', 'm3'].includes(unit.value)) unit.value = 'kg';
      if (!h && !['t', 'm3'].includes(unit.value)) unit.value = 't';
      if (!h) {
        const name = l.querySelector('[data-k=name]');
        if (!name.dataset.own) name.value = l.querySelector('[data-k=cw_type]').selectedOptions[0].dataset.name;
      } else if (!l.querySelector('.crow')) {
        addRow(l);
      }
    }
    // Haulers without a transport licence for this stream are marked, not hidden.
    document.querySelectorAll('#haulers .hauler').forEach((lab) => {
      lab.querySelector('.no-permit').hidden = (lab.dataset.covers || '').split(' ').includes(stream());
    });
    destNote();
  }

  /** A message of this page's own checks, in the page's language, under the field. */
  function fieldError(path, text) {
    showProblem(form, { field: path, detail: text, local: true });
  }

  /** The event, or null after showing what is missing or wrong under each field. */
  function build() {
    const errors = [];
    const err = (path, text) => errors.push([path, text]);
    const h = hazardous();
    const ev = {
      type: 'manifest.issued',
      reference: form.reference.value.trim(),
      stream: stream(),
      generator: form.dataset.generator,
      origin: form.origin.value,
      destination: dest.value,
      haulers: [...form.querySelectorAll('input[name=hauler]:checked')].map((c) => c.value),
      lines: [],
    };
    if (!ev.reference) err('event.reference', t('请填写出库单号', 'enter the slip number'));
    if (!ev.origin) err('event.origin', t('请选择起运地', 'choose where the load leaves from'));
    if (!ev.destination) err('event.destination', t('请选择去向', 'choose the destination'));
    if (!ev.haulers.length) err('event.haulers', t('至少选择一家运输单位', 'choose at least one hauler'));
    const approval = form.approval.value.trim();
    if (approval) ev.approval = approval;
    const ids = new Map(allIds().map(([r, list]) => [r.el, list]));
    const ls = lineEls();
    if (!ls.length) err('event.lines', t('至少填写一行废物', 'add at least one waste line'));
    ls.forEach((l, i) => {
      const at = `event.lines[${i}]`;
      const v = (k) => l.querySelector(`[data-k=${k}]`).value.trim();
      const line = { name: v('name'), form: v('form') };
      if (h) {
        const code = v('code');
        if (!code) err(`${at}.code`, t('请填写或选择废物代码', 'enter or choose the waste code'));
        else if (!/^\d{3}-\d{3}-\d{2}$/.test(code)) err(`${at}.code`, t('废物代码格式为 ddd-ddd-dd，如 900-249-08；可输入名称从列表中选择', 'a code is ddd-ddd-dd, e.g. 900-249-08; type a name to pick from the list'));
        line.code = code;
        line.hazards = [...l.querySelectorAll('[data-k=hazard]:checked')].map((c) => c.value);
        if (!line.hazards.length) err(`${at}.hazards`, t('至少勾选一项危险特性', 'tick at least one hazard'));
      } else {
        line.cw_type = v('cw_type');
      }
      if (!line.name) err(`${at}.name`, t('请填写废物名称', "enter the waste's name"));
      const q = toBase(v('amount'), v('unit'));
      if (q.error) err(`${at}.quantity`, q.error);
      else line.quantity = { amount: q.amount, unit: q.unit };
      if (h) {
        const containers = [];
        for (const r of rowsOf(l)) {
          const bad = (text) => err(`${at}.containers`, text);
          if (!r.count) { bad(t('件数应为 1 至 999 的整数', 'a count is a whole number from 1 to 999')); continue; }
          const vol = toBase(r.el.querySelector('[data-k=litres]').value, 'L');
          if (vol.error) { bad(`${t('容积', 'volume')}：${vol.error}`); continue; }
          const litres = vol.amount / 1000;
          const wt = r.el.querySelector('[data-k=weight]').value.trim();
          let each = null;
          if (wt) {
            const w = toBase(wt, 'kg');
            if (w.error) { bad(`${t('每件重量', 'weight each')}：${w.error}`); continue; }
            each = { amount: w.amount, unit: 'g' };
          }
          for (const id of ids.get(r.el) || []) {
            const c = { id, packaging: `${litres} L ${r.words}` };
            if (each) c.quantity = each;
            containers.push(c);
          }
        }
        if (containers.length) line.containers = containers;
        for (const k of ['components', 'hazardous_components', 'precautions']) {
          if (v(k)) line[k] = v(k);
        }
      }
      ev.lines.push(line);
    });
    return { ev, errors };
  }

  form.querySelectorAll('input[name=stream]').forEach((r) => r.addEventListener('change', streamChanged));
  form.origin.addEventListener('change', () => {
    const kind = form.origin.selectedOptions[0]?.dataset.kind;
    const want = form.querySelector(`input[name=stream][value="${kind}"]`);
    if (want && !want.checked) { want.checked = true; streamChanged(); }
  });
  dest.addEventListener('change', destNote);
  document.getElementById('add-line').addEventListener('click', () => addLine().querySelector('input,select').focus());
  addLine();
  streamChanged();

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    clearProblems(form);
    const state = document.getElementById('issue-state');
    state.hidden = true;
    const { ev, errors } = build();
    if (errors.length) {
      // Every message under its field; the first one in view.
      for (const [path, text] of errors.reverse()) fieldError(path, text);
      return;
    }
    const btn = form.querySelector('button[type=submit]');
    btn.disabled = true;
    state.hidden = false;
    state.className = 'state pending';
    state.textContent = t('正在签名并提交…', 'Signing and sending…');
    try {
      const r = await postSigned(await signEvent(ev));
      const number = r.ok && r.body && Array.isArray(r.body.manifests) ? r.body.manifests[0] : null;
      if (number) {
        state.className = 'state ok';
        state.textContent = `${t('已开具联单', 'Issued manifest')} ${number}`;
        location.href = `/app/m/${encodeURIComponent(number)}`;
        return;
      }
      state.hidden = true;
      await showProblem(form, r.body || { status: r.status });
    } catch (err) {
      state.hidden = true;
      await showProblem(form, { type: 'network', detail: String(err.message || err) });
    } finally {
      btn.disabled = false;
    }
  });
}

// Every handler is in place: the forms' buttons may be used.
takeOver(document.getElementById('issue-form'));
