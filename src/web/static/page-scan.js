// page-scan.js: /app/scan, the driver's page (a phone, one hand, gloves). Reads a code with the
// camera (wl-scan.js scanVideo), from a photo (scanImage) or pasted text, and checks it here,
// in the browser, so it works offline:
//  - a manifest or container token (`WL…`, or a URL ending in one) against the log's verifier
//    key (GET /v1/log/key, kept in the offline worker's cache and in localStorage): the verdict
//    at a glance, then what must be on the truck as the token says it (waste code and name,
//    hazards, containers, declared quantity, destination). Online, the live manifest
//    (GET /v1/manifests/{n}: the full view with a session, else the public view) adds the form,
//    hazards and containers of the current version, and a voided or closed manifest turns the
//    verdict red. A manifest token makes its manifest "the load" (localStorage `wl_load`, also
//    set by opening a manifest page); a container token of another manifest is red
//    "容器不属于本联单".
//  - a hand-over code (`WLH1…`): its signature checked (checkHandover), then a confirm screen
//    showing exactly what is signed (manifest, from → to, truck, driver, each line's quantity,
//    time in CST, place). The truck's plate set on this page (localStorage `wl_plate`) must be
//    the one the hand-over names, else red "车辆不符" and no signing. Signing: countersign →
//    outbox (enqueue) → flush; the result (accepted with its log index and the new status,
//    refused with the server's reason, or waiting for the network) shows at once. A queued
//    hand-over is submitted by wl-app.js when the page loads or the network comes back; the
//    `wl:outbox` event it sends carries the outcomes, which this page shows.
// Words come from the page (`#words`: web::app::scan::words), so the page speaks offline.

import { t, clearProblems, refreshNet, showRaised, takeOver } from './wl-app.js';
import { checkToken, checkHandover, isHandoverCode } from './wl-codes.js';
import { countersign } from './wl-sign.js';
import * as outbox from './wl-outbox.js';
import * as keys from './wl-keys.js';
import { scanVideo, scanImage } from './wl-scan.js';
import { cst, quantity, refusal } from './wl-format.js';

const W = JSON.parse(document.getElementById('words').textContent || '{}');
const I = W.i18n || {};
const $ = (id) => document.getElementById(id);
const word = (table, k) => (I[table] && I[table][k]) || k;

function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text != null) e.textContent = text;
  if (cls) e.className = cls;
  return e;
}

// ---------------------------------------------------------------------------------------------
// Plates
// ---------------------------------------------------------------------------------------------

const normPlate = (p) => String(p || '').toUpperCase().replace(/[\s·•\-]/g, '');
const PLATE = /^[\u4e00-\u9fa5][A-Z][A-Z0-9\u4e00-\u9fa5]{4,6}$/;

// ---------------------------------------------------------------------------------------------
// The truck's plate (set once on this device)
// ---------------------------------------------------------------------------------------------

const myPlate = () => localStorage.getItem('wl_plate') || '';

function showPlate() {
  const p = myPlate();
  $('plate-shown').textContent = p || t('未设置', 'not set');
  $('plate-shown').classList.toggle('unset', !p);
  $('plate-edit').textContent = p ? t('修改', 'Change') : t('设置', 'Set');
}

$('plate-edit').addEventListener('click', () => {
  $('plate-form').hidden = false;
  $('plate').value = myPlate();
  $('plate').focus();
});
$('plate-cancel').addEventListener('click', () => { $('plate-form').hidden = true; });
$('plate-form').addEventListener('submit', (e) => {
  e.preventDefault();
  const form = $('plate-form');
  clearProblems(form);
  const p = normPlate($('plate').value);
  if (!PLATE.test(p)) {
    const slot = form.querySelector('[data-error-for="plate"]');
    slot.textContent = t(`车牌号“${$('plate').value}”格式不对：应为省份简称、字母和5至6位字母数字，如 苏E12345`, `Plate "${$('plate').value}" is not a plate: a province character, a letter and 5 or 6 letters or digits, e.g. 苏E12345`);
    slot.hidden = false;
    $('plate').setAttribute('aria-invalid', 'true');
    return;
  }
  localStorage.setItem('wl_plate', p);
  form.hidden = true;
  showPlate();
  if (current && current.recheck) current.recheck();
});

// ---------------------------------------------------------------------------------------------
// Reading a code
// ---------------------------------------------------------------------------------------------

let camera = null;

async function stopCamera() {
  if (camera) camera.stop();
  camera = null;
  $('camera').hidden = true;
  $('scan-camera').hidden = false;
}

$('scan-camera').addEventListener('click', async () => {
  clearProblems($('scanner'));
  $('scan-camera').hidden = true;
  $('camera').hidden = false;
  try {
    camera = await scanVideo($('video'), async (text) => {
      await stopCamera();
      await handle(text);
      return true;
    });
  } catch (e) {
    await stopCamera();
    const slot = document.querySelector('[data-error-for="camera"]');
    slot.textContent = t('无法打开摄像头（未授权或本机没有摄像头）：请用“拍照识别”。', 'The camera could not be opened (not allowed, or none): take a photo instead.');
    slot.hidden = false;
  }
});
$('scan-stop').addEventListener('click', stopCamera);

$('photo').addEventListener('change', async () => {
  const f = $('photo').files[0];
  $('photo').value = '';
  if (!f) return;
  clearProblems($('scanner'));
  let text = null;
  try { text = await scanImage(f); } catch (_) { text = null; }
  if (!text) {
    const slot = document.querySelector('[data-error-for="camera"]');
    slot.textContent = t('照片里没有找到二维码：请靠近一些、对准后重拍。', 'No code found in the photo: come closer and take it again.');
    slot.hidden = false;
    return;
  }
  await handle(text);
});

$('paste-form').addEventListener('submit', async (e) => {
  e.preventDefault();
  clearProblems($('paste-form'));
  const text = $('code').value.trim();
  if (!text) {
    const slot = $('paste-form').querySelector('[data-error-for="code"]');
    slot.textContent = t('请粘贴二维码的内容（以 WL 开头，或 /m/ 链接）', 'Paste the code’s text (it starts with WL, or is a /m/ link)');
    slot.hidden = false;
    return;
  }
  await handle(text);
});

// ---------------------------------------------------------------------------------------------
// What the page shows
// ---------------------------------------------------------------------------------------------

let current = null; // the code shown: {kind, recheck?}

function reset() {
  current = null;
  $('result').hidden = false;
  $('detail').replaceChildren();
  $('detail').hidden = false;
  $('confirm').hidden = true;
  $('confirm-kv').replaceChildren();
  $('confirm-lines').replaceChildren();
  $('sign-state').hidden = true;
  clearProblems($('confirm'));
  delete $('verdict').dataset.title; // a new code's verdict is shown (and scrolled to) afresh
}

function verdict(tone, title, sub) {
  const v = $('verdict');
  // The same verdict again (the online re-check agreeing with the offline one) leaves the page
  // where it is: a jump under the driver's thumb would move the sign button away from it.
  const same = v.dataset.tone === tone && v.dataset.title === title && v.dataset.sub === (sub || '');
  if (same) return;
  v.dataset.title = title;
  v.dataset.sub = sub || '';
  v.className = `verdict ${tone}`;
  v.dataset.tone = tone;
  v.replaceChildren(el('span', title, 'verdict-title'));
  if (sub) v.append(el('small', sub));
  v.scrollIntoView({ block: 'start' });
}

function kv(dl, label, value, id) {
  dl.append(el('dt', label));
  const dd = el('dd', value);
  if (id) dd.id = id;
  dl.append(dd);
  return dd;
}

function techDetail(parent, text) {
  if (!text) return;
  const d = el('details', null, 'tech');
  d.append(el('summary', t('技术细节', 'Technical detail')));
  const c = el('code', text);
  d.append(c);
  parent.append(d);
}

/** A code that does not check: red, in words. */
function badCode(r) {
  const head = $('detail');
  if (r.verdict === 'malformed' && (r.field === 'payload' || r.field === 'text')) {
    verdict('bad', t('非本系统二维码', 'Not a code of this system'), t('这不是废物联单、容器或交接的二维码。', 'This is not a manifest, container or hand-over code.'));
  } else if (r.verdict === 'other_log') {
    verdict('bad', t('非本系统二维码', 'Not a code of this system'), t('此码不是本系统签发的，不能作为联单凭证。', 'This code was not issued by this log: it proves nothing here.'));
  } else if (r.verdict === 'unknown_version') {
    verdict('warn', t('版本不支持', 'Unsupported version'), t('此码的格式版本较新：请更新本应用后再扫。', 'A newer code format: update the app and scan again.'));
  } else {
    verdict('bad', t('伪造或被篡改', 'Forged or altered'), t('签名核验不通过：此码可能是伪造的或被改动过。请扣留货物并报告。', 'The signature does not verify: the code may be forged or altered. Hold the load and report it.'));
  }
  techDetail(head, r.detail);
}

// ---------------------------------------------------------------------------------------------
// The log's verifier key and live reads
// ---------------------------------------------------------------------------------------------

/** The log's verifier key, pinned in this browser at first use (`wl_log_key`, which the
 *  console's checks share, wl-tlog.js pinnedLogKey): a server that later answers another key is
 *  not the log this phone trusts, and codes signed with that key are shown as forged. */
async function logKey() {
  const kept = localStorage.getItem('wl_log_key');
  if (kept) return kept;
  try {
    const r = await fetch('/v1/log/key', { cache: 'no-store' });
    if (r.ok) {
      const k = (await r.text()).trim();
      localStorage.setItem('wl_log_key', k);
      return k;
    }
  } catch (_) { /* offline, never seen the key: codes cannot be checked yet */ }
  return null;
}

/** The manifest as this reader may see it: {m} (full or public view), {missing}, or {offline}. */
async function liveManifest(number) {
  try {
    const r = await fetch(`/v1/manifests/${encodeURIComponent(number)}`, { credentials: 'same-origin', cache: 'no-store' });
    if (r.status === 404) return { missing: true };
    if (!r.ok) return { offline: true };
    return { m: await r.json() };
  } catch (_) {
    return { offline: true };
  }
}

const NAMES = 'wl_party_names';
function knownNames() {
  try { return JSON.parse(localStorage.getItem(NAMES) || '{}'); } catch (_) { return {}; }
}

/** A party's name: from the registry when online (kept for later), else a name seen before, else null. */
async function partyName(id) {
  try {
    const r = await fetch(`/v1/parties/${encodeURIComponent(id)}`, { cache: 'no-store' });
    if (r.ok) {
      const name = (await r.json()).party.name;
      const all = knownNames();
      all[id] = name;
      localStorage.setItem(NAMES, JSON.stringify(all));
      return name;
    }
  } catch (_) { /* offline */ }
  return knownNames()[id] || null;
}

const current_ = (m) => (m.versions && m.versions.length ? m.versions[m.versions.length - 1] : null);

function statusVerdict(m) {
  const s = m.status;
  const w = word('status', s);
  if (s === 'voided') return ['bad', t('已作废', 'Voided'), t('联单已作废，不得凭此运输。', 'The manifest was voided: no load may move under it.')];
  if (s === 'treated' || s === 'returned') return ['bad', t('已办结', 'Closed'), t(`联单已办结（${w}），不应再有货物凭此码运输。`, `The manifest is closed (${w}): no load should move under this code.`)];
  if (s === 'consolidated' || s === 'split') return ['warn', t('已转入新联单', 'Went on under another manifest'), t(`货物已${w}，现在按新联单运输：${(m.onward || []).join('、')}`, `The load was ${w}; it now travels under ${(m.onward || []).join(', ')}`)];
  if (s === 'received' || s === 'delivered' || s === 'rejected') return ['warn', w, t('联单显示货物已到目的地。', 'The log has the load at its destination.')];
  return null;
}

// ---------------------------------------------------------------------------------------------
// Manifest and container tokens
// ---------------------------------------------------------------------------------------------

function lineWhat(l) {
  if (l.code) {
    const w = (W.wastes || {})[l.code];
    return `${l.code}${w ? ' ' + w.name : ''}`;
  }
  return word('cw_type', l.cw_type);
}

function hazardsOf(codes) {
  return (codes || []).map((h) => word('hazard', h)).join('、');
}

function siteName(id) {
  const n = (W.sites || {})[id];
  return n ? `${n}（${id}）` : id;
}

function renderLoad(b, live) {
  const box = $('detail');
  box.replaceChildren();
  const isContainer = b.kind.type === 'container';
  box.append(el('h2', isContainer ? t('容器应装的废物', 'What this container should hold') : t('应装运的废物', 'What must be on the truck')));
  const dl = el('dl', null, 'kv');
  kv(dl, t('联单号', 'Manifest'), b.number, 'd-number');
  kv(dl, t('类别', 'Stream'), word('stream', b.stream));
  if (isContainer) kv(dl, t('容器', 'Container'), `${b.kind.id} · ${t(`第${b.kind.line + 1}行`, `line ${b.kind.line + 1}`)}`, 'd-container');
  const v = live && live.view === 'full' ? current_(live) : null;
  kv(dl, t('去向', 'Destination'), siteName(v ? v.destination : b.destination), 'd-destination');
  kv(dl, t('产废单位', 'Generator'), b.generator, 'd-generator');
  kv(dl, t('开具时间', 'Issued'), cst(Number(b.issued_at_s) * 1000));
  if (live) {
    kv(dl, t('当前状态', 'Status'), word('status', live.status), 'd-status');
    if (live.vehicle) kv(dl, t('车辆', 'Truck'), live.vehicle, 'd-vehicle');
  }
  box.append(dl);
  const ul = el('ul', null, 'list');
  ul.id = 'd-lines';
  b.lines.forEach((l, i) => {
    if (isContainer && i !== b.kind.line) return;
    const full = v && v.lines[i];
    const li = el('li');
    li.dataset.line = String(i + 1);
    li.append(el('b', `${t(`第${i + 1}行`, `Line ${i + 1}`)} · ${lineWhat(l)}`));
    const facts = [];
    if (full) facts.push(word('form', full.form));
    const hz = full ? hazardsOf(full.hazards) : hazardsOf(((W.wastes || {})[l.code] || {}).hazards);
    if (hz) facts.push(`${t('危险特性', 'hazards')}：${hz}`);
    const boxes = ((full && full.containers) || []).filter((c) => !isContainer || c.id === b.kind.id);
    if (boxes.length) facts.push(`${t('容器', 'containers')}：${boxes.map((c) => `${c.id} ${c.packaging}`).join('、')}`);
    if (facts.length) { li.append(el('br')); li.append(el('span', facts.join(' · '), 'muted')); }
    li.append(el('br'));
    li.append(el('span', `${t('申报数量', 'Declared')} `));
    li.append(el('b', quantity(l.quantity)));
    ul.append(li);
  });
  box.append(ul);
}

async function showToken(text) {
  reset();
  current = { kind: 'token' };
  const key = await logKey();
  if (!key) {
    verdict('warn', t('暂时无法核验', 'Cannot check yet'), t('本机还没有保存日志公钥：请联网打开一次本页。', "This device has not kept the log's key yet: open this page once with the network."));
    return;
  }
  const r = await checkToken(text, key);
  if (r.verdict !== 'valid') { badCode(r); return; }
  const b = r.body;
  const isContainer = b.kind.type === 'container';
  const load = localStorage.getItem('wl_load');
  const wrongLoad = isContainer && load && load !== b.number;
  const judge = (live) => {
    if (wrongLoad) {
      return ['bad', t('容器不属于本联单', 'Container not on this load'), t(`此容器属于联单 ${b.number}，本车装运的是联单 ${load}。`, `This container belongs to manifest ${b.number}; this truck carries manifest ${load}.`)];
    }
    if (live) {
      if (live.issue_index !== undefined && live.issue_index !== Number(b.issue_index)) {
        return ['bad', t('与记录不符', 'Does not match the log'), t('此码与日志中的联单记录不符。', 'This code does not match the manifest in the log.')];
      }
      const sv = statusVerdict(live);
      if (sv) return sv;
      const v = live.view === 'full' ? current_(live) : null;
      if (isContainer && v && !v.lines.some((l) => (l.containers || []).some((c) => c.id === b.kind.id))) {
        return ['bad', t('容器不属于本联单', 'Container not on this load'), t(`容器 ${b.kind.id} 不在联单 ${b.number} 的现行版本上。`, `Container ${b.kind.id} is not on manifest ${b.number} as it stands.`)];
      }
    }
    return ['ok', t('有效', 'Valid'), isContainer ? t('本系统签发的容器标签。', 'A genuine container label of this log.') : t('本系统签发的联单二维码。', 'A genuine manifest code of this log.')];
  };
  const [tone, title, sub] = judge(null);
  verdict(tone, title, sub);
  renderLoad(b, null);
  if (!isContainer && tone !== 'bad') localStorage.setItem('wl_load', b.number);
  const note = el('p', t('正在查询联单实时状态…', 'Reading the manifest’s live status…'), 'muted small');
  note.id = 'live-note';
  $('detail').append(note);
  const got = await liveManifest(b.number);
  if (got.offline) {
    note.textContent = t('离线：已在本机核验签名，联单实时状态待联网后查询。', 'Offline: the signature was checked on this device; the live status needs the network.');
    note.className = 'state pending';
    return;
  }
  if (got.missing) {
    verdict('bad', t('联单不存在', 'Unknown manifest'), t(`签名有效，但日志中没有联单 ${b.number}。`, `Signed by this log, but manifest ${b.number} is not in it.`));
    note.remove();
    return;
  }
  const live = got.m;
  const [tone2, title2, sub2] = judge(live);
  verdict(tone2, title2, sub2);
  renderLoad(b, live);
  if (!isContainer && tone2 === 'bad') localStorage.removeItem('wl_load');
  const gen = await partyName(b.generator);
  if (gen && current && current.kind === 'token' && $('d-generator')) $('d-generator').textContent = `${gen}（${b.generator}）`;
}

// ---------------------------------------------------------------------------------------------
// Hand-over codes
// ---------------------------------------------------------------------------------------------

function place(ev) {
  const parts = [];
  if (ev.site) parts.push(siteName(ev.site));
  if (ev.place) parts.push(`${(ev.place.lat_e6 / 1e6).toFixed(5)}, ${(ev.place.lon_e6 / 1e6).toFixed(5)}`);
  return parts.join(' · ') || t('未注明', 'not given');
}

async function showHandover(text) {
  reset();
  const r = await checkHandover(text);
  if (r.verdict !== 'valid') { badCode(r); return; }
  const d = r.decoded;
  const ev = d.event;
  current = { kind: 'handover', decoded: d };
  localStorage.setItem('wl_load', ev.manifest);

  const me = await keys.info();
  const names = {};
  const showParties = () => {
    const f = names[ev.from] ? `${names[ev.from]}（${ev.from}）` : ev.from;
    const to = names[ev.to] ? `${names[ev.to]}（${ev.to}）` : ev.to;
    $('c-from').textContent = f;
    $('c-to').textContent = to;
  };
  const dl = $('confirm-kv');
  kv(dl, t('联单号', 'Manifest'), ev.manifest, 'c-manifest');
  kv(dl, t('交出方', 'From'), ev.from, 'c-from');
  kv(dl, t('接收方', 'To'), ev.to, 'c-to');
  kv(dl, t('车牌', 'Truck'), ev.vehicle || t('未注明', 'not given'), 'c-vehicle');
  const driver = ev.driver_id || ev.driver;
  kv(dl, t('驾驶员', 'Driver'), driver ? `${driver.slice(0, 12)}…` : t('未注明', 'not given'), 'c-driver');
  kv(dl, t('时间', 'Time'), ev.at ? cst(ev.at) : t('未注明', 'not given'), 'c-at');
  kv(dl, t('地点', 'Place'), place(ev), 'c-place');
  const signer = await keys.fingerprintOf(d.keyBytes);
  kv(dl, t('对方签名密钥', 'Signed with key'), signer, 'c-signer');
  const ul = $('confirm-lines');
  (ev.lines || []).forEach((l) => {
    const li = el('li');
    li.dataset.line = String(l.line + 1);
    li.append(el('b', t(`第${l.line + 1}行`, `Line ${l.line + 1}`)));
    const what = el('span', '', 'muted line-what');
    li.append(' ', what);
    li.append(el('br'));
    li.append(el('span', `${t('交接数量', 'Quantity')} `));
    li.append(el('b', quantity(l.quantity)));
    ul.append(li);
  });
  $('detail').hidden = true;
  $('confirm').hidden = false;

  let live = null;
  const btn = $('countersign');
  // What stops the signing, in order of what the driver must see first.
  const judge = () => {
    const plate = myPlate();
    if (!me) return ['bad', t('本机没有签名密钥', 'No signing key on this device'), t('请先登记本机或导入单位密钥。', 'Enrol this device or import a key file first.')];
    if (me.publicKeyB64 === d.key) return ['warn', t('这是本机签的一半', 'This device signed this half'), t('请对方扫码会签。', 'The other party scans it and countersigns.')];
    if (ev.vehicle && plate && normPlate(ev.vehicle) !== normPlate(plate)) {
      return ['bad', t('车辆不符', 'Wrong truck'), t(`交接码上的车牌是 ${ev.vehicle}，本车车牌是 ${plate}：不得签收。`, `The hand-over names ${ev.vehicle}; this truck is ${plate}: do not sign.`)];
    }
    if (live) {
      const sv = statusVerdict(live);
      if (sv && sv[0] === 'bad') return sv;
    }
    if (W.party && ev.from !== W.party && ev.to !== W.party) {
      return ['bad', t('不是本单位的交接', 'Not your company’s hand-over'), t('交出方和接收方都不是本机登录的单位。', 'Neither party is the company signed in on this device.')];
    }
    if (ev.vehicle && !plate) {
      return ['warn', t('签名有效：请核对车牌', 'Genuine: check the plate'), t('本机未设置本车车牌，无法自动核对车辆：请在页面顶部设置。', "This device has no plate set, so the truck is not checked: set it at the top.")];
    }
    return ['ok', t('有效', 'Valid'), t('对方签名核验通过。请核对以下内容后签名。', "The other party's signature checks. Check what follows, then sign.")];
  };
  const recheck = () => {
    const [tone, title, sub] = judge();
    verdict(tone, title, sub);
    btn.disabled = tone === 'bad' || (me && me.publicKeyB64 === d.key);
    btn.hidden = false;
  };
  current.recheck = recheck;
  recheck();

  // Online: the parties' names, the live status and the lines' wastes.
  const [nf, nt, got] = await Promise.all([partyName(ev.from), partyName(ev.to), liveManifest(ev.manifest)]);
  if (current.decoded !== d) return;
  if (nf) names[ev.from] = nf;
  if (nt) names[ev.to] = nt;
  showParties();
  if (got.m) {
    live = got.m;
    const v = live.view === 'full' ? current_(live) : null;
    if (v) {
      ul.querySelectorAll('li').forEach((li) => {
        const l = v.lines[Number(li.dataset.line) - 1];
        if (l) li.querySelector('.line-what').textContent = `${l.code || word('cw_type', l.cw_type)} ${l.name}`;
      });
    }
  } else if (got.missing) {
    live = { status: 'missing' };
    verdict('bad', t('联单不存在', 'Unknown manifest'), t(`日志中没有联单 ${ev.manifest}。`, `Manifest ${ev.manifest} is not in the log.`));
    btn.disabled = true;
    return;
  }
  recheck();
}

function showOutcome(o) {
  const st = $('sign-state');
  st.hidden = false;
  if (o.outcome === 'accepted') {
    st.className = 'state ok';
    st.textContent = t(`交接已记入日志（序号 ${o.index}）`, `The hand-over is in the log (entry ${o.index})`);
    verdict('ok', t('交接完成', 'Handed over'), t('双方签名已记入日志。', 'Both signatures are in the log.'));
    const n = o.meta && o.meta.manifest;
    if (n) {
      liveManifest(n).then((got) => {
        if (got.m) st.textContent += t(`，联单状态：${word('status', got.m.status)}`, `; the manifest is now ${word('status', got.m.status)}`);
      });
      showRaised(st, n, o.index);
    }
  } else if (o.outcome === 'pending') {
    st.className = 'state pending';
    st.textContent = t('已提交，等待另一方签名', 'Sent; waiting for the other party to sign');
  } else if (o.outcome === 'refused') {
    st.className = 'state bad';
    verdict('bad', t('被拒绝', 'Refused'), t('日志拒绝了这次交接，未记入。', 'The log refused this hand-over; nothing was recorded.'));
    const r = refusal(o.problem, W);
    st.textContent = r.text;
    techDetail(st, r.detail);
  } else {
    st.className = 'state pending';
    st.textContent = t('已签名，等待提交：联网后自动提交（关闭页面也不会丢失）', 'Signed, waiting to be sent: it goes when the network is back (closing the page loses nothing)');
    verdict('warn', t('等待提交', 'Waiting to be sent'), t('已在本机签名并保存。', 'Signed and kept on this device.'));
  }
}

$('countersign').addEventListener('click', async () => {
  if (!current || current.kind !== 'handover') return;
  const btn = $('countersign');
  btn.disabled = true;
  clearProblems($('confirm'));
  const d = current.decoded;
  const ev = d.event;
  let wire;
  try {
    wire = await countersign(d.wire);
  } catch (e) {
    const st = $('sign-state');
    st.hidden = false;
    st.className = 'state bad';
    st.textContent = t('签名失败：', 'Signing failed: ') + e.message;
    btn.disabled = false;
    return;
  }
  const id = await outbox.enqueue(wire, {
    kind: 'handover', manifest: ev.manifest, from: ev.from, to: ev.to, vehicle: ev.vehicle || null,
    at: ev.at || null, lines: (ev.lines || []).map((l) => ({ line: l.line, quantity: l.quantity })),
  });
  current.outboxId = id;
  btn.hidden = true;
  let outcomes = [];
  try { outcomes = await outbox.flush(); } catch (_) { outcomes = []; }
  const mine = outcomes.find((o) => o.id === id) || { id, outcome: 'queued', meta: { manifest: ev.manifest } };
  showOutcome(mine);
  await refreshNet();
});

// wl-app.js submits what waits when the page loads and when the network is back.
document.addEventListener('wl:outbox', (e) => {
  const outcomes = (e.detail && e.detail.outcomes) || [];
  if (!current || current.outboxId == null) return;
  const mine = outcomes.find((o) => o.id === current.outboxId);
  if (mine) showOutcome(mine);
});

async function handle(text) {
  const s = String(text).trim();
  $('code').value = s;
  if (isHandoverCode(s)) await showHandover(s);
  else await showToken(s);
}

// Waiting hand-overs signed on this device: shown at once after a reload.
async function showWaiting() {
  let items = [];
  try { items = await outbox.list(); } catch (_) { return; }
  const queued = items.filter((i) => i.state === 'queued');
  if (!queued.length || current) return;
  $('result').hidden = false;
  $('detail').replaceChildren();
  verdict('warn', t('等待提交', 'Waiting to be sent'), t(`${queued.length} 条已签名交接保存在本机，联网后自动提交。`, `${queued.length} signed hand-over(s) kept on this device; sent when the network is back.`));
  const ul = el('ul', null, 'list');
  ul.id = 'waiting';
  for (const i of queued) {
    const m = i.meta || {};
    ul.append(el('li', `${t('联单', 'Manifest')} ${m.manifest || ''} · ${m.vehicle || ''} · ${t('签名于', 'signed')} ${cst(i.created)}`));
  }
  $('detail').append(ul);
  current = { kind: 'waiting', outboxId: queued[queued.length - 1].id };
}

showPlate();
logKey();
const first = new URLSearchParams(location.search).get('code');
if (first) handle(first);
else showWaiting();
document.body.dataset.ready = 'scan';

// Every handler is in place: the forms' buttons may be used.
takeOver($('plate-form'));
takeOver($('paste-form'));
