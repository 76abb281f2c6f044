// wl-db.js: the app's IndexedDB database `wasteledger` (shared by wl-keys.js and wl-outbox.js).
//
// Object stores (version 1):
//   keys    records keyed by `slot` (a name: 'device' for a phone's own key, 'party' for a
//           clerk's imported party key, …), see wl-keys.js
//   outbox  signed events waiting for the log, keyed by an increasing `id`, see wl-outbox.js
//
// Exports:
//   DB_NAME                               'wasteledger'
//   tx(store, mode, fn) -> Promise<result>  run fn(objectStore) (synchronous: it only issues
//                                           requests) in one transaction; resolves with
//                                           the value of the last IDBRequest fn returned (or fn's
//                                           plain return value) once the transaction completes
//   req(idbRequest) -> Promise<result>
//   close()                               close the shared connection (tests, `forget` of all data)

export const DB_NAME = 'wasteledger';
const VERSION = 1;

let opening = null;

function open() {
  if (!opening) {
    opening = new Promise((resolve, reject) => {
      const r = indexedDB.open(DB_NAME, VERSION);
      r.onupgradeneeded = () => {
        const db = r.result;
        if (!db.objectStoreNames.contains('keys')) db.createObjectStore('keys', { keyPath: 'slot' });
        if (!db.objectStoreNames.contains('outbox')) {
          db.createObjectStore('outbox', { keyPath: 'id', autoIncrement: true });
        }
      };
      r.onsuccess = () => {
        const db = r.result;
        db.onversionchange = () => {
          db.close();
          opening = null;
        };
        resolve(db);
      };
      r.onerror = () => {
        opening = null;
        reject(new Error(`IndexedDB ${DB_NAME}: ${r.error && r.error.message}`));
      };
      r.onblocked = () => reject(new Error(`IndexedDB ${DB_NAME}: blocked by another tab; close it and reload`));
    });
  }
  return opening;
}

export function req(r) {
  return new Promise((resolve, reject) => {
    r.onsuccess = () => resolve(r.result);
    r.onerror = () => reject(r.error);
  });
}

export async function tx(store, mode, fn) {
  const db = await open();
  return new Promise((resolve, reject) => {
    const t = db.transaction(store, mode);
    let out;
    try {
      const v = fn(t.objectStore(store));
      if (v instanceof IDBRequest) v.addEventListener('success', () => (out = v.result));
      else out = v;
    } catch (e) {
      try {
        t.abort();
      } catch (_) {
        /* already finished */
      }
      reject(e);
      return;
    }
    t.oncomplete = () => resolve(out);
    t.onerror = () => reject(t.error);
    t.onabort = () => reject(t.error || new Error(`IndexedDB ${DB_NAME}: transaction aborted`));
  });
}

export async function close() {
  if (opening) {
    const db = await opening.catch(() => null);
    opening = null;
    if (db) db.close();
  }
}
