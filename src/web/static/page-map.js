// page-map.js: the console's map (/app/map). Reads, signed with this device's key, the
// vehicle's track over the window (GET /v1/vehicles/{plate}/track: track points, hand-overs,
// stops outside every registered site, the sites around) and its anomalies (GET /v1/anomalies
// ?vehicle=&from=&to=: those dated in the window, and those a week before and ten days after
// it that rest on an entry drawn), and draws them with the vendored Leaflet (window.L, vendor/leaflet.js): sites and
// their geofences (named), the track, the stops (duration and nearest site in words, CST), the
// hand-over places and the anomalies whose entries are on the map; lists the same below.
// Base tiles only from the server's --tile-url (the map element's data-tiles); without it no
// request leaves the server. Coordinates are drawn as the log holds them (WGS-84), never
// converted.
//
// Exports: none (runs on load).

import { t, signedRequest, showProblem } from './wl-app.js';
import { cst } from './wl-format.js';

const box = document.getElementById('map');
const state = document.getElementById('map-state');
const W = JSON.parse(document.getElementById('words').textContent || '{}');

const ll = (lat, lon) => [lat / 1e6, lon / 1e6];
const deg = (e6) => (e6 / 1e6).toFixed(6);

/** Minutes in words: 45 分钟, 1 小时 5 分钟. */
function duration(min) {
  const h = Math.floor(min / 60), m = min % 60;
  if (!h) return t(`${m} 分钟`, `${m} min`);
  return m ? t(`${h} 小时 ${m} 分钟`, `${h} h ${m} min`) : t(`${h} 小时`, `${h} h`);
}

const km = (m) => t(`${(m / 1000).toFixed(1)} 公里`, `${(m / 1000).toFixed(1)} km`);

/** `2026-11-25 16:48 北京时间`, or only the time of day when `day` is the same date. */
function clock(at, day) {
  const s = cst(at);
  return day && s.slice(0, 10) === cst(day).slice(0, 10) ? s.slice(11) : s;
}

function li(list, parts, cls) {
  const item = document.createElement('li');
  if (cls) item.className = cls;
  for (const p of parts) item.append(p);
  list.append(item);
  return item;
}

function span(text, cls) {
  const s = document.createElement('span');
  s.textContent = text;
  if (cls) s.className = cls;
  return s;
}

function link(href, text) {
  const a = document.createElement('a');
  a.href = href;
  a.textContent = text;
  return a;
}

// A day in ms, and how far either side of the window an anomaly resting on an entry drawn in it
// may be dated: a stop outside every site is dated at its start, and a load counts as on the
// truck for at most seven days; a load goes overdue 72 h after it was picked up, and a receipt
// is due five working days after delivery (up to eight calendar days over a weekend).
const DAY_MS = 86400000;
const BEFORE_MS = 7 * DAY_MS;
const AFTER_MS = 10 * DAY_MS;
const PAGES = 20;

// The vehicle's anomalies dated from `from` to `to`, page after page (newest first, 500 a page),
// at most `pages` pages: {anomalies, more (pages were left), error (a page was refused: the
// problem)}.
async function anomaliesBetween(plate, from, to, pages) {
  const base = `/v1/anomalies?vehicle=${encodeURIComponent(plate)}&from=${encodeURIComponent(from)}&to=${encodeURIComponent(to)}&limit=500`;
  const anomalies = [];
  let cursor = null;
  for (let page = 0; page < pages; page += 1) {
    const r = await signedRequest('GET', cursor ? `${base}&cursor=${encodeURIComponent(cursor)}` : base);
    if (!r.ok) return { anomalies, more: false, error: (r.body && r.body.detail) || `HTTP ${r.status}` };
    anomalies.push(...r.body.anomalies);
    cursor = r.body.next;
    if (!cursor) break;
  }
  return { anomalies, more: Boolean(cursor), error: null };
}

// The vehicle's anomalies for the window from-to: those dated in it or up to BEFORE_MS before
// and AFTER_MS after it (the map keeps those of them that rest on an entry it draws), every
// page: a busy truck has many pages of them, newest first, and the first alone would leave out
// an older window's. One range rather than three: each read judges every load of the truck.
async function vehicleAnomalies(plate, from, to) {
  const iso = (ms) => new Date(ms).toISOString();
  return anomaliesBetween(plate, iso(Date.parse(from) - BEFORE_MS), iso(Date.parse(to) + AFTER_MS), PAGES);
}

async function draw() {
  const { plate, from, to, tiles } = box.dataset;
  const map = L.map(box, { attributionControl: false, zoomSnap: 0.5 });
  if (tiles) L.tileLayer(tiles, { maxZoom: 18, subdomains: 'abc' }).addTo(map);
  else box.classList.add('no-tiles');
  L.control.scale({ imperial: false, position: 'bottomleft' }).addTo(map);
  map.setView([31.39, 120.98], 11);

  state.textContent = t('正在读取轨迹…', 'Reading the track…');
  const q = `from=${encodeURIComponent(from)}&to=${encodeURIComponent(to)}`;
  const tr = await signedRequest('GET', `/v1/vehicles/${encodeURIComponent(plate)}/track?${q}`);
  if (!tr.ok) {
    state.textContent = '';
    await showProblem(document.querySelector('main'), { field: 'track', ...(tr.body || { detail: `HTTP ${tr.status}` }) });
    return;
  }
  const track = tr.body;
  const an = await vehicleAnomalies(plate, track.from, track.to);
  const sites = new Map(track.sites.map((s) => [s.site, s]));
  const bounds = [];

  // Sites and their geofences, named: always for the stops' nearest and the hand-overs' sites,
  // on hover for the others (a town's every site named at once is unreadable on a phone).
  const named = new Set([...track.dwells.map((d) => d.nearest && d.nearest.site), ...track.handovers.map((h) => h.site)]);
  for (const s of track.sites) {
    const fence = s.geofence.map((p) => ll(p.lat_e6, p.lon_e6));
    L.polygon(fence, { className: 'wl-site', color: '#1f6feb', weight: 2, fillOpacity: 0.12 })
      .bindTooltip(s.name, { permanent: named.has(s.site), direction: 'top', className: 'wl-site-label' })
      .addTo(map);
    L.circleMarker(ll(s.location.lat_e6, s.location.lon_e6), { className: 'wl-site-centre', radius: 3, color: '#1f6feb', fillOpacity: 1 }).addTo(map);
  }

  // The track.
  const line = track.points.map((p) => ll(p.lat_e6, p.lon_e6));
  if (line.length) {
    L.polyline(line, { className: 'wl-track', color: '#6e40c9', weight: 4, opacity: 0.85 }).addTo(map);
    bounds.push(...line);
  }
  for (const p of track.points) {
    L.circleMarker(ll(p.lat_e6, p.lon_e6), { className: 'wl-point', radius: 3, color: '#6e40c9', fillOpacity: 1 })
      .bindTooltip(cst(p.at)).addTo(map);
  }

  // Where each log entry put the truck (for the anomalies).
  const at = new Map();
  for (const p of track.points) at.set(p.entry, ll(p.lat_e6, p.lon_e6));

  // Hand-overs.
  const hl = document.getElementById('handovers');
  hl.replaceChildren();
  for (const h of track.handovers) {
    const what = h.kind === 'load' ? t('装车（交接给本车）', 'loaded (handed to this truck)') : t('卸车（本车交出）', 'unloaded (handed on by this truck)');
    const where = h.site ? (sites.get(h.site)?.name || h.site)
      : h.lat_e6 != null ? `${deg(h.lat_e6)}, ${deg(h.lon_e6)}` : t('未记录地点', 'no place recorded');
    const parts = [span(`${cst(h.at)} · ${what} · ${where}`)];
    if (h.manifest) parts.push(' · ', link(`/app/m/${encodeURIComponent(h.manifest)}`, `${t('联单', 'manifest')} ${h.manifest}`));
    li(hl, parts, 'handover');
    if (h.lat_e6 == null) continue;
    const p = ll(h.lat_e6, h.lon_e6);
    at.set(h.entry, p);
    bounds.push(p);
    L.circleMarker(p, { className: 'wl-handover', radius: 8, color: '#237804', fillColor: '#52c41a', fillOpacity: 0.9, weight: 2 })
      .bindTooltip(`${what} · ${cst(h.at)}${h.manifest ? ` · ${h.manifest}` : ''}`).addTo(map);
  }
  if (!track.handovers.length) li(hl, [t('窗口内无交接。', 'No hand-over in the window.')], 'muted');

  // Stops outside every site.
  const dl = document.getElementById('dwells');
  dl.replaceChildren();
  for (const s of track.dwells) {
    const p = ll(s.lat_e6, s.lon_e6);
    bounds.push(p);
    const when = `${cst(s.from)} – ${clock(s.to, s.from)}`;
    const loaded = s.loaded ? t('车上有货', 'loaded') : t('空车', 'empty');
    const near = s.nearest;
    const dist = near ? span(km(near.distance_m), 'dwell-distance') : null;
    const parts = [span(t(`停留 ${duration(s.minutes)}`, `Stood ${duration(s.minutes)}`), 'dwell-duration'),
      ` · ${when} · ${loaded} · ${deg(s.lat_e6)}, ${deg(s.lon_e6)}`];
    if (near) parts.push(t(' · 距最近的登记场所 ', ' · nearest registered site '), span(near.name, 'dwell-site'), ' ', dist);
    li(dl, parts, 'dwell');
    const tip = `${t('场所外停留', 'Stop outside every site')} ${duration(s.minutes)} · ${when}${near ? ` · ${t('距', 'to')} ${near.name} ${km(near.distance_m)}` : ''}`;
    L.circleMarker(p, { className: 'wl-dwell', radius: 11, color: '#ad2102', fillColor: '#fa8c16', fillOpacity: 0.95, weight: 3 })
      .bindTooltip(tip).addTo(map);
    if (near && sites.has(near.site)) {
      const c = sites.get(near.site).location;
      L.polyline([p, ll(c.lat_e6, c.lon_e6)], { className: 'wl-nearest', color: '#ad2102', weight: 2, dashArray: '6 6' })
        .bindTooltip(km(near.distance_m), { permanent: true, className: 'wl-distance-label' }).addTo(map);
    }
    for (const e of s.entries) at.set(e, p);
  }
  if (!track.dwells.length) li(dl, [t('窗口内没有在登记场所外停留 20 分钟以上。', 'No stop of 20 minutes or more outside every site in the window.')], 'muted');

  // Anomalies: those in the window, or resting on an entry drawn here.
  const al = document.getElementById('anomalies');
  al.replaceChildren();
  const lo = Date.parse(track.from), hi = Date.parse(track.to);
  const list = an.anomalies.filter((a) => {
    const when = Date.parse(a.at);
    return (when >= lo && when < hi) || a.entries.some((e) => at.has(e));
  });
  for (const a of list) {
    const kind = (W.kinds || {})[a.kind] || t('异常', 'anomaly');
    const parts = [span(kind, 'badge bad'), ` ${cst(a.at)} `];
    for (const m of a.manifests) parts.push(link(`/app/m/${encodeURIComponent(m)}`, `${t('联单', 'manifest')} ${m}`), ' ');
    const why = document.createElement('details');
    why.className = 'tech';
    const sum = document.createElement('summary');
    sum.textContent = t('检测规则的原文（英文）', 'The detector\'s sentence');
    const code = document.createElement('code');
    code.textContent = a.reason;
    why.append(sum, code);
    parts.push(why);
    li(al, parts, 'anomaly');
    const where = a.entries.map((e) => at.get(e)).find(Boolean);
    if (where) {
      L.circleMarker(where, { className: 'wl-anomaly', radius: 17, color: '#cf1322', weight: 3, fill: false, dashArray: '4 3' })
        .bindTooltip(`${kind} · ${cst(a.at)}`).addTo(map);
    }
  }
  if (an.more) li(al, [t('该车辆的异常过多，只读取了最新的 10000 条。', 'Too many anomalies for this vehicle: only the newest 10,000 were read.')], 'muted');
  if (an.error) li(al, [t('无法读取全部异常：', 'Not every anomaly could be read: ') + an.error], 'error');
  else if (!list.length) li(al, [t('窗口内没有该车辆的异常。', 'No anomaly of this vehicle in the window.')], 'muted');

  for (const s of track.sites) bounds.push(ll(s.location.lat_e6, s.location.lon_e6));
  const fit = () => { if (bounds.length) map.fitBounds(bounds, { padding: [36, 36], maxZoom: 16 }); };
  fit();
  // A phone turned, a window resized: the whole window's track stays in view.
  window.addEventListener('resize', () => { map.invalidateSize(); fit(); });
  // From the truck to its other loads: the linked search by plate, over all time.
  document.getElementById('search-plate').href = `/app/search?plate=${encodeURIComponent(plate)}`;
  document.getElementById('findings').hidden = false;
  const n = track.points.length;
  state.textContent = t(
    `${plate}：${cst(track.from)} 至 ${cst(track.to)}，轨迹点 ${n} 个，交接 ${track.handovers.length} 次，场所外停留 ${track.dwells.length} 处，异常 ${list.length} 条${track.truncated ? '（点数过多，已截断）' : ''}。`,
    `${plate}: ${cst(track.from)} to ${cst(track.to)}, ${n} track points, ${track.handovers.length} hand-overs, ${track.dwells.length} stops outside every site, ${list.length} anomalies${track.truncated ? ' (too many points: cut short)' : ''}.`,
  );
  box.dataset.drawn = '1';
}

if (box.dataset.track) {
  draw().catch((e) => {
    state.textContent = t('地图绘制失败：', 'The map failed: ') + e.message;
  });
} else {
  box.hidden = true;
}
