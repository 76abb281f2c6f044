// page-graph.js: the graph around one load (/app/graph?manifest=N[&depth=&fan_out=&max_nodes=]),
// from `GET /v1/manifests/{n}/graph` signed with this device's key, drawn here as SVG (no
// library): a layered layout, one column per hop from the load (the API's `depth`), each
// column ordered by where its neighbours sit in the column before (then kind and key), so the
// same answer always gives the same picture. Loads, companies, trucks, drivers and sites have
// their own shape and colour and are labelled in words (numbers, names, plates); each line
// names the steps behind it (the manifests' `events`, read signed, give each entry's step).
// A load opens the graph around it (the centre opens its page), a truck its map, a company or
// a site the search by it. What the caps cut (the answer's `truncated`) is said in words.
//
// Exports: layout(nodes, edges) -> {pos: Map(id → {x, y, col, row}), width, height}

import { t, words, showProblem, clearProblems, signedRequest } from './wl-app.js';
import { names, roleWords, TONE } from './page-search.js';
import { pickBox, showPicked } from './wl-case.js';

const SVG = 'http://www.w3.org/2000/svg';
const COL_W = 290;
const ROW_H = 58;
const NODE_W = 220;
const NODE_H = 42;
const PAD = 16;
const KIND_ORDER = ['manifest', 'party', 'site', 'plate', 'driver'];

function el(tag, attrs, ...kids) {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) if (v !== undefined && v !== null) e.setAttribute(k, v);
  for (const k of kids) if (k !== null && k !== undefined) e.append(k);
  return e;
}
function html(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) if (v !== undefined && v !== null) e.setAttribute(k, v);
  for (const k of kids) if (k !== null && k !== undefined) e.append(k);
  return e;
}

/** Columns by hop; in each, nodes ordered by the mean row of their neighbours one column
 *  left (the barycentre), then by kind and key. Deterministic. */
export function layout(nodes, edges) {
  const cols = [];
  for (const n of nodes) (cols[n.depth] = cols[n.depth] || []).push(n);
  const adj = new Map(nodes.map((n) => [n.id, []]));
  for (const e of edges) {
    if (adj.has(e.from) && adj.has(e.to)) { adj.get(e.from).push(e.to); adj.get(e.to).push(e.from); }
  }
  const depth = new Map(nodes.map((n) => [n.id, n.depth]));
  const row = new Map();
  const pos = new Map();
  let rows = 0;
  cols.forEach((col, c) => {
    if (!col) return;
    const bary = (n) => {
      const left = adj.get(n.id).filter((m) => row.has(m) && depth.get(m) === c - 1).map((m) => row.get(m));
      return left.length ? left.reduce((a, b) => a + b, 0) / left.length : 0;
    };
    const keyed = col.map((n) => [bary(n), KIND_ORDER.indexOf(n.kind), n.key, n]);
    keyed.sort((a, b) => a[0] - b[0] || a[1] - b[1] || (a[2] < b[2] ? -1 : a[2] > b[2] ? 1 : 0));
    keyed.forEach(([, , , n], i) => {
      row.set(n.id, i);
      pos.set(n.id, { col: c, row: i, x: PAD + c * COL_W, y: PAD + i * ROW_H });
    });
    rows = Math.max(rows, col.length);
  });
  // Centre each column against the tallest.
  for (const [id, p] of pos) {
    const n = cols[p.col].length;
    p.y += ((rows - n) * ROW_H) / 2;
    pos.set(id, p);
  }
  return { pos, width: PAD * 2 + (cols.length - 1) * COL_W + NODE_W, height: PAD * 2 + rows * ROW_H - (ROW_H - NODE_H) };
}

function cut(s, n) { return s.length > n ? `${s.slice(0, n - 1)}…` : s; }

const KIND_WORDS = { manifest: ['联单', 'load'], party: ['单位', 'company'], site: ['场所', 'site'], plate: ['车辆', 'truck'], driver: ['驾驶员', 'driver'] };

/** A node in words: [main label, second line, full text]. */
function label(w, n) {
  const nm = names();
  switch (n.kind) {
    case 'manifest': {
      const st = (w.status || {})[n.status] || '';
      return [n.key, `${t('联单', 'load')} · ${st}`, `${t('联单', 'Manifest')} ${n.key} ${st}`];
    }
    case 'party': { const name = nm.party[n.key] || n.key; return [cut(name, 15), t('单位', 'company'), name]; }
    case 'site': { const name = nm.site[n.key] || n.key; return [cut(name, 15), t('场所', 'site'), name]; }
    case 'plate': return [n.key, t('车辆', 'truck'), `${t('车辆', 'Truck')} ${n.key}`];
    case 'driver': return [`${n.key.slice(0, 10)}…`, t('驾驶员（化名编号）', 'driver (pseudonymous id)'), `${t('驾驶员', 'Driver')} ${n.key}`];
    default: return [n.key, '', n.key];
  }
}

function href(n, start, caps) {
  const q = (k, v) => `${k}=${encodeURIComponent(v)}`;
  switch (n.kind) {
    case 'manifest':
      return n.id === start ? `/app/m/${n.key}` : `/app/graph?${[q('manifest', n.key), ...caps].join('&')}`;
    case 'plate': return `/app/map?${q('plate', n.key)}`;
    case 'party': return `/app/search?${q('party', n.key)}`;
    case 'site': return `/app/search?${q('site', n.key)}`;
    case 'driver': return `/app/search?${q('driver', n.key)}`;
    default: return null;
  }
}

function shape(n, start) {
  const w = NODE_W;
  const h = NODE_H;
  const cls = `shape k-${n.kind}${n.id === start ? ' start' : ''}`;
  switch (n.kind) {
    case 'party': return el('rect', { class: cls, width: w, height: h, rx: h / 2 });
    case 'site': return el('polygon', { class: cls, points: `12,0 ${w - 12},0 ${w},${h / 2} ${w - 12},${h} 12,${h} 0,${h / 2}` });
    case 'plate': return el('rect', { class: cls, width: w, height: h, rx: 2 });
    case 'driver': return el('polygon', { class: cls, points: `8,0 ${w},0 ${w - 8},${h} 0,${h}` });
    default: return el('rect', { class: cls, width: w, height: h, rx: 8 });
  }
}

/** Each manifest's entries → step type, read signed (at most 6 at a time). */
async function stepsOf(numbers) {
  const out = new Map();
  const queue = [...numbers];
  const worker = async () => {
    while (queue.length) {
      const n = queue.shift();
      const r = await signedRequest('GET', `/v1/manifests/${n}`).catch(() => ({ ok: false }));
      const m = new Map();
      if (r.ok && r.body) {
        for (const e of r.body.events || []) m.set(e.index, e.type);
        if (r.body.issue_index !== undefined && !m.has(r.body.issue_index)) m.set(r.body.issue_index, 'manifest.issued');
      }
      out.set(n, m);
    }
  };
  await Promise.all(Array.from({ length: 6 }, worker));
  return out;
}

/** The steps behind an edge, in words, and its entries. */
function edgeWords(w, e, byId, steps) {
  const ev = w.event || {};
  const ends = [byId.get(e.from), byId.get(e.to)].filter((n) => n && n.kind === 'manifest');
  const typeOf = (i) => {
    for (const m of ends) { const s = steps.get(m.key); if (s && s.has(i)) return s.get(i); }
    return 'manifest.issued';
  };
  const kinds = [...new Set(e.entries.map((i) => ev[typeOf(i)] || t('其他记录', 'another step')))];
  const short = kinds.join(t('、', ', '));
  const lead = e.kind === 'onward' ? t('转为 ', 'went on as: ') : '';
  return { short: `${lead}${cut(short, 18)}`, long: `${lead}${short}`, roles: roleWords(e.roles) };
}

function cutWords(w, g, byId) {
  const name = (id) => { const n = byId.get(id); return n ? label(w, n)[2] : id; };
  return g.truncated.map((c) => (c.reason === 'max_nodes'
    ? t(`节点数已达上限（${c.shown} 个）：从“${name(c.node)}”起不再展开，其余相关对象未显示。`,
      `The graph is full (${c.shown} nodes): nothing more is drawn from “${name(c.node)}” on.`)
    : t(`“${name(c.node)}”关联的联单超过每个对象的上限，只显示 ${c.shown} 份${c.postings_in_window !== undefined ? `（时间段内共 ${c.postings_in_window} 条相关记录）` : ''}。`,
      `“${name(c.node)}” has more loads than the cap: ${c.shown} shown${c.postings_in_window !== undefined ? ` (${c.postings_in_window} entries in the window)` : ''}.`)));
}

async function draw(g, caps) {
  const w = await words();
  const byId = new Map(g.nodes.map((n) => [n.id, n]));
  const steps = await stepsOf(g.nodes.filter((n) => n.kind === 'manifest').map((n) => n.key));
  const { pos, width, height } = layout(g.nodes, g.edges);
  const svg = el('svg', { xmlns: SVG, width, height, viewBox: `0 0 ${width} ${height}`, role: 'img', class: 'graph', 'aria-label': t('联单关系图', 'Graph around the load') });
  const edges = el('g', { class: 'edges' });
  const labels = el('g', { class: 'edge-labels' });
  const list = document.getElementById('edge-list');
  list.replaceChildren();
  for (const e of g.edges) {
    const a = pos.get(e.from);
    const b = pos.get(e.to);
    if (!a || !b) continue;
    const [l, r] = a.x <= b.x ? [a, b] : [b, a];
    let d;
    let mid;
    if (l.col === r.col) {
      const x = l.x + NODE_W;
      const y1 = l.y + NODE_H / 2;
      const y2 = r.y + NODE_H / 2;
      d = `M${x},${y1} C${x + 60},${y1} ${x + 60},${y2} ${x},${y2}`;
      mid = [x + 46, (y1 + y2) / 2];
    } else {
      const x1 = l.x + NODE_W;
      const y1 = l.y + NODE_H / 2;
      const x2 = r.x;
      const y2 = r.y + NODE_H / 2;
      const dx = (x2 - x1) / 2;
      d = `M${x1},${y1} C${x1 + dx},${y1} ${x2 - dx},${y2} ${x2},${y2}`;
      // The label three quarters along, near the node it leads to: many lines leave one load
      // (the centre), and their far ends are spread apart, so their labels are too.
      const u = 0.75;
      const b = (p0, p1, p2, p3) => (1 - u) ** 3 * p0 + 3 * (1 - u) ** 2 * u * p1 + 3 * (1 - u) * u * u * p2 + u ** 3 * p3;
      mid = [b(x1, x1 + dx, x2 - dx, x2), b(y1, y1, y2, y2)];
    }
    const ww = edgeWords(w, e, byId, steps);
    edges.append(el('path', { d, class: `edge e-${e.kind}`, 'data-from': e.from, 'data-to': e.to }));
    labels.append(el('text', { x: mid[0], y: mid[1] - 3, class: 'edge-label', 'text-anchor': 'middle', 'data-entries': e.entries.join(' ') },
      el('title', {}, `${ww.long}${ww.roles ? ` (${ww.roles})` : ''} · ${t('日志序号', 'entries')} ${e.entries.join(', ')}`), ww.short));
    const na = byId.get(e.from);
    const nb = byId.get(e.to);
    list.append(html('li', { 'data-from': e.from, 'data-to': e.to },
      html('b', {}, `${label(w, na)[2]} — ${label(w, nb)[2]}`), html('br'),
      `${ww.long}${ww.roles ? ` · ${ww.roles}` : ''} · ${t('日志序号', 'entries')} ${e.entries.join(t('、', ', '))}`));
  }
  const nodes = el('g', { class: 'nodes' });
  for (const n of g.nodes) {
    const p = pos.get(n.id);
    const [main, sub, full] = label(w, n);
    const tone = n.kind === 'manifest' ? (TONE[n.status] || '') : '';
    const body = el('g', { class: `node ${tone}`, transform: `translate(${p.x},${p.y})`, 'data-id': n.id, 'data-kind': n.kind, 'data-key': n.key },
      el('title', {}, full), shape(n, g.start),
      el('text', { x: NODE_W / 2, y: 18, 'text-anchor': 'middle', class: 'node-label' }, main),
      el('text', { x: NODE_W / 2, y: 34, 'text-anchor': 'middle', class: 'node-sub' }, sub));
    const to = href(n, g.start, caps);
    nodes.append(to ? el('a', { href: to, class: 'node-link' }, body) : body);
  }
  svg.append(edges, labels, nodes);
  document.getElementById('graph-box').replaceChildren(svg);
  document.getElementById('edges-card').hidden = g.edges.length === 0;
  // The loads drawn, to pick for a case: the centre first, then by number.
  const loads = g.nodes.filter((n) => n.kind === 'manifest')
    .sort((a, b) => (a.id === g.start ? -1 : b.id === g.start ? 1 : a.key.localeCompare(b.key)));
  const picks = document.getElementById('pick-list');
  picks.replaceChildren(...loads.map((n) => html('li', { 'data-number': n.key },
    pickBox(n.key, html('span', {}, html('span', { class: 'mono' }, n.key), ' ',
      html('span', { class: `badge ${TONE[n.status] || ''}` }, (w.status || {})[n.status] || n.status || ''))))));
  document.getElementById('pick-card').hidden = loads.length === 0;
  showPicked();
  const cutBox = document.getElementById('cut');
  const said = cutWords(w, g, byId);
  cutBox.replaceChildren(...said.map((s) => html('p', {}, s)));
  cutBox.hidden = said.length === 0;
  const kinds = {};
  for (const n of g.nodes) kinds[n.kind] = (kinds[n.kind] || 0) + 1;
  const counts = Object.entries(kinds).map(([k, c]) => `${t(...(KIND_WORDS[k] || [k, k]))} ${c}`).join(t('，', ', '));
  document.getElementById('graph-state').textContent = `${g.nodes.length} ${t('个节点', 'nodes')}${t(`（${counts}）`, ` (${counts})`)} · ${g.edges.length} ${t('条关系', 'links')} · ${said.length ? t('部分因上限未显示，见下方说明', 'some cut by the caps, see below') : t('全部显示，未因上限省略', 'nothing cut by the caps')}`;
}

async function load(card, form) {
  clearProblems(form);
  const p = new URLSearchParams(location.search);
  const caps = [];
  for (const k of ['depth', 'fan_out', 'max_nodes']) {
    if (p.has(k)) { document.getElementById(k).value = p.get(k); caps.push(`${k}=${encodeURIComponent(p.get(k))}`); }
  }
  const state = document.getElementById('graph-state');
  state.textContent = t('正在读取…', 'Reading…');
  const number = card.dataset.number;
  const r = await signedRequest('GET', `/v1/manifests/${encodeURIComponent(number)}/graph${caps.length ? `?${caps.join('&')}` : ''}`)
    .catch(() => ({ ok: false, body: { type: 'network' } }));
  if (!r.ok) {
    state.textContent = '';
    await showProblem(form, r.body);
    document.body.dataset.ready = 'graph-refused';
    return;
  }
  await draw(r.body, caps);
  document.body.dataset.ready = 'graph';
}

function start() {
  const card = document.getElementById('graph-card');
  if (!card) return;
  const form = document.getElementById('caps');
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const q = new URLSearchParams();
    q.set('manifest', card.dataset.number);
    for (const k of ['depth', 'fan_out', 'max_nodes']) q.set(k, document.getElementById(k).value.trim());
    const lang = new URLSearchParams(location.search).get('lang');
    if (lang) q.set('lang', lang);
    history.replaceState(null, '', `/app/graph?${q}`);
    document.body.dataset.ready = '';
    load(card, form);
  });
  load(card, form);
}

start();
