// wl-outbox.js: signed events waiting for the log (IndexedDB `wasteledger`, store `outbox`).
//
// A phone in a yard or a truck is often offline: a signed event goes into the outbox first and
// is submitted in order when the network is back. The queue survives a reload. An item leaves
// the outbox only when the log took it (or holds it as a pending hand-over half), or when the
// user dismisses a refusal; a network error or a busy server leaves it queued as it was.
//
// Item: {id, wire (canonical JSON text of the signed event), meta (anything the page wants to
// show: a title, the manifest number…), created, state: 'queued'|'refused', attempts,
// lastError?: string (the last network or server trouble), problem?: the server's RFC 9457
// problem JSON when refused, status?}.
//
// Exports (async):
//   enqueue(wire, meta) -> id        wire: a signed-event object or its JSON text (stored canonical)
//   list() -> [item…]                in submission order
//   get(id) -> item | undefined
//   flush(post = postEvent) -> [outcome…]   submits the queued items in order. For each:
//        {id, meta, outcome: 'accepted', index, answer}      201: the log took it at `index`
//        {id, meta, outcome: 'accepted', index, replay: true} 409 replay: it was in the log already
//        {id, meta, outcome: 'pending', answer}              202: a hand-over half the server holds
//                                                            until the other party countersigns
//        {id, meta, outcome: 'refused', status, problem}     any other 4xx: kept, state 'refused',
//                                                            until dismiss(id); flush goes on
//        {id, meta, outcome: 'queued', error}                network error, 408, 429 or 5xx: kept;
//                                                            flush stops there (order is kept)
//        Accepted and pending items are removed. Refused items are skipped by later flushes.
//        Two flushes never run at once (Web Locks where the browser has them, else in-page).
//   dismiss(id)                      removes an item (the page asks the user first)
//   postEvent(item) -> Response      the default `post`: fetch POST /v1/events with item.wire
//
// `post(item)` may be any function returning a fetch Response (or {status, json()}); it must
// throw on a network error.

import { tx } from './wl-db.js';
import { wireText } from './wl-sign.js';

const STORE = 'outbox';

export async function enqueue(wire, meta = {}) {
  const item = { wire: wireText(wire), meta, created: new Date().toISOString(), state: 'queued', attempts: 0 };
  return tx(STORE, 'readwrite', (s) => s.add(item));
}

export async function list() {
  return tx(STORE, 'readonly', (s) => s.getAll());
}

export async function get(id) {
  return tx(STORE, 'readonly', (s) => s.get(id));
}

export async function dismiss(id) {
  await tx(STORE, 'readwrite', (s) => s.delete(id));
}

function save(item) {
  return tx(STORE, 'readwrite', (s) => s.put(item));
}

export function postEvent(item) {
  return fetch('/v1/events', {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json, application/problem+json' },
    body: item.wire,
  });
}

async function jsonOf(res) {
  try {
    return await res.json();
  } catch (e) {
    return null;
  }
}

const transient = (status) => status === 408 || status === 429 || status >= 500;

let running = null;

async function flushNow(post) {
  const outcomes = [];
  for (const item of await list()) {
    if (item.state !== 'queued') continue;
    let res;
    item.attempts = (item.attempts || 0) + 1;
    try {
      res = await post(item);
    } catch (e) {
      item.lastError = `network: ${e && e.message ? e.message : e}`;
      await save(item);
      outcomes.push({ id: item.id, meta: item.meta, outcome: 'queued', error: item.lastError });
      break;
    }
    const body = await jsonOf(res);
    if (res.status === 201 || res.status === 200) {
      await dismiss(item.id);
      outcomes.push({ id: item.id, meta: item.meta, outcome: 'accepted', index: body && body.index, answer: body });
    } else if (res.status === 202) {
      await dismiss(item.id);
      outcomes.push({ id: item.id, meta: item.meta, outcome: 'pending', answer: body });
    } else if (res.status === 409 && body && /replay$/.test(String(body.type || '')) ) {
      await dismiss(item.id);
      outcomes.push({ id: item.id, meta: item.meta, outcome: 'accepted', index: body.existing_index, replay: true, answer: body });
    } else if (transient(res.status)) {
      item.lastError = `server answered ${res.status}${body && body.detail ? ': ' + body.detail : ''}`;
      await save(item);
      outcomes.push({ id: item.id, meta: item.meta, outcome: 'queued', error: item.lastError });
      break;
    } else {
      item.state = 'refused';
      item.status = res.status;
      item.problem = body || { status: res.status, detail: `the server answered ${res.status}` };
      await save(item);
      outcomes.push({ id: item.id, meta: item.meta, outcome: 'refused', status: res.status, problem: item.problem });
    }
  }
  return outcomes;
}

export async function flush(post = postEvent) {
  if (globalThis.navigator && navigator.locks) {
    return navigator.locks.request('wasteledger-outbox', () => flushNow(post));
  }
  while (running) await running.catch(() => {});
  running = flushNow(post);
  try {
    return await running;
  } finally {
    running = null;
  }
}
