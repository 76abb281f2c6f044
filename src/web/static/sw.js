// sw.js: the application's offline worker (served as /app/sw.js, scope /app).
// The server writes the asset version and list into the first two lines, so a new binary
// replaces the cache. Keeps: every static file (cache first), the pages a phone needs offline
// and what they read to check codes without the network (the log's verifier key, the words),
// each refreshed from the network whenever it answers (network first, cache when offline).
// It never caches a write: POST /v1/events goes to the network or fails, and the page's
// outbox (wl-outbox.js) keeps the signed event until it is sent. The scan page carries the
// words and catalog names it needs (web::app::scan::words), so kept pages and the verifier key
// are all a phone needs to check a code offline; a page never kept falls back to the scan page.
const VERSION = '__VERSION__';
const ASSETS = __ASSETS__;
const CACHE = `wl-${VERSION}`;
// Only pages that carry no party's business are kept: a phone passed to someone else after
// sign-out shows nothing of the loads it saw (sign-out also empties the cache: wl-app.js).
const PAGES = ['/app', '/app/scan', '/app/outbox', '/app/check'];
// Where a page not kept lands offline.
const OFFLINE_PAGE = '/app/scan';
const DATA = ['/v1/log/key', '/app/i18n.json?lang=zh', '/app/i18n.json?lang=en'];

// Keep `url` in cache `c` if the network answers it within 20 s. Best effort: a file that
// fails or stalls (a busy server, a dropped connection) is fetched again on first use, and a
// stalled request must not hold the install, and so the whole offline worker, back.
async function keep(c, url) {
  try {
    const signal = AbortSignal.timeout ? AbortSignal.timeout(20000) : undefined;
    const r = await fetch(url, { credentials: 'same-origin', signal });
    if (r.ok) await c.put(url, r);
  } catch (_) { /* offline or too slow at install */ }
}

self.addEventListener('install', (e) => {
  e.waitUntil((async () => {
    const c = await caches.open(CACHE);
    // Pages and data may need a session the worker does not have yet: kept when they answer.
    await Promise.all([...ASSETS.map((a) => `/app/static/${a}`), ...PAGES, ...DATA].map((u) => keep(c, u)));
    await self.skipWaiting();
  })());
});

self.addEventListener('activate', (e) => {
  e.waitUntil((async () => {
    for (const k of await caches.keys()) if (k !== CACHE) await caches.delete(k);
    await self.clients.claim();
  })());
});

// A page that loaded while this worker was activating asks to be taken (wl-app.js).
self.addEventListener('message', (e) => {
  if (e.data === 'claim') e.waitUntil(self.clients.claim());
});

function cacheKey(url) {
  // Static files are cached without their ?v= (the cache itself is versioned).
  return url.pathname.startsWith('/app/static/') ? url.pathname : url.pathname + url.search;
}

self.addEventListener('fetch', (e) => {
  const url = new URL(e.request.url);
  if (e.request.method !== 'GET' || url.origin !== location.origin) return;
  const key = cacheKey(url);
  if (url.pathname.startsWith('/app/static/')) {
    e.respondWith((async () => {
      const hit = await caches.match(key);
      if (hit) return hit;
      const r = await fetch(e.request);
      if (r.ok) await (await caches.open(CACHE)).put(key, r.clone());
      return r;
    })());
    return;
  }
  const nav = e.request.mode === 'navigate';
  if (!nav && !DATA.includes(key)) return;
  const keep = DATA.includes(key) || PAGES.includes(url.pathname);
  e.respondWith((async () => {
    try {
      const r = await fetch(e.request);
      if (r.ok && keep) {
        const c = await caches.open(CACHE);
        await c.put(key, r.clone());
      }
      return r;
    } catch (err) {
      // A page never opened online falls back to the scan page, which works offline.
      const hit = await caches.match(key) || (nav && await caches.match(url.pathname))
        || (nav && url.pathname.startsWith('/app') && await caches.match(OFFLINE_PAGE));
      if (hit) return hit;
      throw err;
    }
  })());
});
