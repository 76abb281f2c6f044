// page-approve.js: /app/approve. A company's clerk (signed in with the company's own key)
// signs `key.delegated` for a device: the device's public key, its staff number, a validity,
// and optionally the registered driver it belongs to. The event goes to POST /v1/events; a
// refusal is shown next to the field it names.

import * as keys from './wl-keys.js';
import { signEvent } from './wl-sign.js';
import { b64decode } from './wl-util.js';
import { t, showProblem, clearProblems, postSigned, takeOver } from './wl-app.js';

const form = document.getElementById('approve-form');
const fp = document.getElementById('device-fp');

async function showFingerprint() {
  try {
    const bytes = b64decode(form.device.value.trim());
    fp.textContent = bytes.length === 32 ? await keys.fingerprintOf(bytes) : '—';
  } catch (_) {
    fp.textContent = '—';
  }
}

if (form) {
  form.device.addEventListener('input', showFingerprint);
  showFingerprint();
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    clearProblems(form);
    const days = Number(form.days.value);
    if (!Number.isInteger(days) || days < 1 || days > 1830) {
      showProblem(form, { type: 'invalid-field', field: 'event.not_after', detail: t('1 至 1830 天', '1 to 1830 days') });
      return;
    }
    const event = {
      type: 'key.delegated',
      key: form.device.value.trim(),
      holder: form.dataset.holder,
      label: form.label.value.trim(),
      not_after: new Date(Date.now() + days * 86400000).toISOString(),
    };
    if (form.person && form.person.value) event.person = form.person.value;
    const btn = form.querySelector('button[type=submit]');
    btn.disabled = true;
    try {
      const r = await postSigned(await signEvent(event));
      const state = document.getElementById('approve-state');
      if (r.ok) {
        state.hidden = false;
        state.className = 'state ok';
        state.textContent = `${t('已批准：设备', 'Approved: device')} ${fp.textContent} · ${t('日志序号', 'log entry')} ${r.body.index}`;
        form.hidden = true;
      } else {
        await showProblem(form, r.body);
      }
    } catch (err) {
      await showProblem(form, { type: 'network', detail: String(err.message || err) });
    } finally {
      btn.disabled = false;
    }
  });
}

// Every handler is in place: the forms' buttons may be used.
takeOver(document.getElementById('approve-form'));
