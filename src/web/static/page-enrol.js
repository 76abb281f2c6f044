// page-enrol.js: /app/enrol. A driver makes this phone's key (wl-keys.js: WebCrypto Ed25519,
// non-extractable; the pure-JS fallback where the browser has none, and the page says which),
// then shows the approval code: a link to /app/approve with the public key and the staff
// number, for the company's clerk to scan and sign. The page signs in by itself once the
// delegation is in the log. A clerk can instead import the company's PKCS#8 key file; the file
// is read here and never uploaded.

import * as keys from './wl-keys.js';
import { t, login, showProblem, clearProblems, forgetPages, takeOver } from './wl-app.js';

const form = document.getElementById('enrol-form');
const done = document.getElementById('enrolled');

function engineWords(engine) {
  return engine === 'webcrypto'
    ? t('浏览器内置 WebCrypto Ed25519（私钥不可导出）', "the browser's WebCrypto Ed25519 (the private key cannot be exported)")
    : t('备用纯 JS 签名库 @noble/ed25519（本浏览器不支持 WebCrypto Ed25519）', 'the pure-JS fallback @noble/ed25519 (this browser has no WebCrypto Ed25519)');
}

async function showEnrolled(info) {
  const label = localStorage.getItem('wl_label') || '';
  const url = `${location.origin}/app/approve?key=${encodeURIComponent(info.publicKeyB64)}&label=${encodeURIComponent(label)}`;
  form.hidden = true;
  done.hidden = false;
  document.getElementById('enrol-qr').src = `/app/qr.svg?d=${encodeURIComponent(url)}`;
  document.getElementById('enrol-fp').textContent = info.fingerprint;
  document.getElementById('enrol-engine').textContent = engineWords(info.engine);
  const link = document.getElementById('enrol-link');
  link.href = url;
  done.dataset.key = info.publicKeyB64;
  waitForApproval();
}

let waiting = false;
async function waitForApproval() {
  if (waiting) return;
  waiting = true;
  const state = document.getElementById('enrol-state');
  for (;;) {
    try {
      const r = await login();
      if (r.ok) {
        state.className = 'state ok';
        state.textContent = t('已批准，正在进入…', 'Approved, opening…');
        location.href = '/app';
        return;
      }
    } catch (_) { /* offline: try again */ }
    await new Promise((res) => setTimeout(res, 4000));
  }
}

form.addEventListener('submit', async (e) => {
  e.preventDefault();
  clearProblems(form);
  const label = form.label.value.trim();
  if (!label) {
    showProblem(form, { type: 'invalid-field', field: 'event.label', detail: t('请填写工号', 'enter your staff number') });
    return;
  }
  localStorage.setItem('wl_label', label);
  const btn = form.querySelector('button');
  btn.disabled = true;
  try {
    const info = await keys.generate();
    await showEnrolled(info);
  } catch (err) {
    showProblem(form, { type: 'device', field: 'event.label', detail: String(err.message || err) });
  } finally {
    btn.disabled = false;
  }
});

document.getElementById('keyfile').addEventListener('change', async (e) => {
  const section = document.getElementById('import');
  clearProblems(section);
  const file = e.target.files[0];
  if (!file) return;
  const state = document.getElementById('import-state');
  try {
    const text = new Uint8Array(await file.arrayBuffer());
    e.target.value = '';
    const info = await keys.importPkcs8(text, { replace: true });
    // A session of the key this one replaces must not go on reading (or signing pages) here.
    await fetch('/app/session', { method: 'DELETE' }).catch(() => {});
    await forgetPages();
    sessionStorage.removeItem('wl_signed_out');
    state.hidden = false;
    state.className = 'state pending';
    state.textContent = `${t('已导入，指纹', 'Imported, fingerprint')} ${info.fingerprint}`;
    const r = await login();
    if (r.ok) {
      location.href = '/app';
      return;
    }
    state.className = 'state bad';
    state.textContent = r.problem && r.problem.type === 'key-not-approved'
      ? t('此密钥不是任何单位的已登记密钥（或已撤销）。', 'This key is not a registered key of any company (or was revoked).')
      : t('登录失败', 'Sign-in failed');
  } catch (err) {
    showProblem(section, { type: 'keyfile', field: 'keyfile', detail: String(err.message || err) });
  }
});

keys.info().then((info) => { if (info && info.source === 'generated') showEnrolled(info); });

// Every handler is in place: the forms' buttons may be used.
takeOver(form);
