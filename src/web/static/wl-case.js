// wl-case.js: what the console's lists share: the manifests picked for a case, and CSV for
// Excel. A manifest is picked on the search, graph, anomaly and manifest-list pages; the
// numbers wait in localStorage `wl_case_pick` (a JSON array of manifest numbers as strings)
// until the cases page (/app/cases) takes them.
//
// Exports:
//   picks() -> string[]          the manifests picked for a case, in the order picked
//   pick(number, on)             add or remove one
//   clearPicks()                 forget them all
//   pickBox(number, label?) -> <label class="pick">   a checkbox (input.pick-box) in step with
//        picks(); ticking it updates every count shown (#picked and [data-picked])
//   showPicked()                 refresh those counts (and every pick box on the page)
//   csvCell(v) -> string         one CSV cell, quoted when it must be; a cell Excel would run as
//        a formula (=, +, -, @, tab, CR first) is written as text
//   csvBlob(rows) -> Blob        rows of cells as CSV: UTF-8 with a BOM (so Excel reads the
//        Chinese), CRLF line ends
//   download(blob, name)         save it as the browser saves a download

import { t } from './wl-app.js';

const PICK = 'wl_case_pick';

export function picks() {
  try {
    const v = JSON.parse(localStorage.getItem(PICK) || '[]');
    return Array.isArray(v) ? v.map(String) : [];
  } catch (_) { return []; }
}

export function pick(number, on) {
  const set = new Set(picks());
  if (on) set.add(String(number)); else set.delete(String(number));
  localStorage.setItem(PICK, JSON.stringify([...set]));
}

export function clearPicks() {
  localStorage.setItem(PICK, '[]');
  showPicked();
}

export function showPicked() {
  const all = picks();
  for (const e of document.querySelectorAll('#picked, [data-picked]')) e.textContent = String(all.length);
  for (const b of document.querySelectorAll('input.pick-box')) b.checked = all.includes(b.value);
}

export function pickBox(number, label) {
  const box = document.createElement('input');
  box.type = 'checkbox';
  box.className = 'pick-box';
  box.value = String(number);
  box.checked = picks().includes(box.value);
  box.addEventListener('change', () => { pick(box.value, box.checked); showPicked(); });
  const l = document.createElement('label');
  l.className = 'pick';
  l.append(box, label || t('选入案件', 'Pick for a case'));
  return l;
}

export function csvCell(v) {
  let s = String(v ?? '');
  if (/^[=+\-@\t\r]/.test(s)) s = `'${s}`;
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

export function csvBlob(rows) {
  const text = rows.map((r) => r.map(csvCell).join(',')).join('\r\n') + '\r\n';
  return new Blob([new Uint8Array([0xef, 0xbb, 0xbf]), new TextEncoder().encode(text)], { type: 'text/csv;charset=utf-8' });
}

export function download(blob, name) {
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}
