// page-outbox.js: /app/outbox. What this device signed that the log has not taken yet
// (wl-outbox.js): queued items (等待提交) with the last trouble met, and refused ones with the
// server's reason in the page's language. "立即提交" flushes now; a refused item can be removed
// after a second, explicit tap (the signed event is gone for good then). The list follows
// wl-app.js's automatic flushes (`wl:outbox`).

import { t, refreshNet } from './wl-app.js';
import * as outbox from './wl-outbox.js';
import { cst, quantity, refusal } from './wl-format.js';

const W = JSON.parse(document.getElementById('words').textContent || '{}');

const $ = (id) => document.getElementById(id);

// Party names page-scan.js kept when it read them online (else the id alone).
function named(id) {
  if (!id) return '';
  let names = {};
  try { names = JSON.parse(localStorage.getItem('wl_party_names') || '{}'); } catch (_) { /* none */ }
  return names[id] ? `${names[id]}（${id}）` : id;
}

function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text != null) e.textContent = text;
  if (cls) e.className = cls;
  return e;
}

async function render() {
  let items = [];
  try { items = await outbox.list(); } catch (_) { items = []; }
  const list = $('outbox-list');
  list.replaceChildren();
  const queued = items.filter((i) => i.state === 'queued').length;
  const refused = items.filter((i) => i.state === 'refused').length;
  const state = $('outbox-state');
  if (!items.length) {
    state.className = 'state ok';
    state.textContent = t('没有待提交的签名：都已记入日志。', 'Nothing waiting: everything signed here is in the log.');
  } else {
    state.className = refused ? 'state bad' : 'state pending';
    const parts = [];
    if (queued) parts.push(t(`${queued} 条等待提交`, `${queued} waiting to be sent`));
    if (refused) parts.push(t(`${refused} 条被拒绝`, `${refused} refused`));
    state.textContent = parts.join(t('，', ', '));
  }
  $('outbox-send').hidden = !queued;
  for (const item of items) {
    const m = item.meta || {};
    const li = el('li');
    li.dataset.id = String(item.id);
    li.dataset.state = item.state;
    const badge = item.state === 'refused'
      ? el('span', t('被拒绝', 'Refused'), 'badge bad')
      : el('span', t('等待提交', 'Waiting'), 'badge warn');
    li.append(badge, ' ', el('b', `${t('交接', 'Hand-over')} · ${t('联单', 'manifest')} ${m.manifest || ''}`));
    const dl = el('dl', null, 'kv');
    const row = (k, v) => { if (v) { dl.append(el('dt', k), el('dd', v)); } };
    row(t('交出方', 'From'), named(m.from));
    row(t('接收方', 'To'), named(m.to));
    row(t('车牌', 'Truck'), m.vehicle);
    row(t('数量', 'Quantities'), (m.lines || []).map((l) => `${t(`第${l.line + 1}行`, `line ${l.line + 1}`)} ${quantity(l.quantity)}`).join('；'));
    row(t('交接时间', 'Time'), m.at ? cst(m.at) : '');
    row(t('签名时间', 'Signed'), cst(item.created));
    li.append(dl);
    if (item.state === 'refused') {
      const r = refusal(item.problem, W);
      const why = el('p', r.text, 'error');
      why.dataset.role = 'reason';
      li.append(why);
      if (r.detail) {
        const d = el('details', null, 'tech');
        d.append(el('summary', t('技术细节', 'Technical detail')), el('code', r.detail));
        li.append(d);
      }
      const del = el('button', t('删除此条', 'Remove'), 'danger remove');
      del.type = 'button';
      const sure = el('button', t('确认删除（签名将作废，无法恢复）', 'Remove for good (the signature is lost)'), 'danger remove-sure');
      sure.type = 'button';
      sure.hidden = true;
      const keep = el('button', t('保留', 'Keep'));
      keep.type = 'button';
      keep.hidden = true;
      del.onclick = () => { del.hidden = true; sure.hidden = false; keep.hidden = false; };
      keep.onclick = () => { del.hidden = false; sure.hidden = true; keep.hidden = true; };
      sure.onclick = async () => { await outbox.dismiss(item.id); await render(); await refreshNet(); };
      const actions = el('div', null, 'actions');
      actions.append(del, sure, keep);
      li.append(actions);
    } else if (item.lastError) {
      li.append(el('p', t(`上次未能提交（${navigator.onLine ? '服务器暂时不可用' : '离线'}），将自动重试`, `Not sent last time (${navigator.onLine ? 'server unavailable' : 'offline'}); it will be retried`), 'muted small'));
    }
    list.append(li);
  }
}

$('outbox-send').addEventListener('click', async () => {
  $('outbox-send').disabled = true;
  try { await outbox.flush(); } catch (_) { /* stays queued */ }
  $('outbox-send').disabled = false;
  await render();
  await refreshNet();
});

document.addEventListener('wl:outbox', render);
window.addEventListener('offline', render);
render();
