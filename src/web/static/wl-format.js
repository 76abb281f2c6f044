// wl-format.js: what people read, in the page's language: quantities and times.
//
// Exports:
//   quantity({amount, unit: 'g'|'ml'}) -> '340 千克' / '340 kg' (t, kg, g; L, ml)
//   cst(dateOrIsoOrMillis) -> '2026-11-23 16:30 北京时间' (China Standard Time, UTC+8, whatever
//        the device's time zone)

const zh = document.documentElement.lang !== 'en';
const t = (z, e) => (zh ? z : e);
const num = (x) => (Math.round(x * 1000) / 1000).toLocaleString(zh ? 'zh-CN' : 'en');

export function quantity(q) {
  if (!q) return '';
  const a = Number(q.amount);
  if (q.unit === 'ml') return a >= 1000 ? `${num(a / 1000)} ${t('升', 'L')}` : `${a} ${t('毫升', 'ml')}`;
  if (a >= 1e6) return `${num(a / 1e6)} ${t('吨', 't')}`;
  if (a >= 1000) return `${num(a / 1000)} ${t('千克', 'kg')}`;
  return `${a} ${t('克', 'g')}`;
}

export function cst(when) {
  const d = when instanceof Date ? when : new Date(when);
  if (Number.isNaN(d.getTime())) return String(when);
  const c = new Date(d.getTime() + 8 * 3600e3);
  const p = (n) => String(n).padStart(2, '0');
  return `${c.getUTCFullYear()}-${p(c.getUTCMonth() + 1)}-${p(c.getUTCDate())} ${p(c.getUTCHours())}:${p(c.getUTCMinutes())} ${t('北京时间', 'CST')}`;
}
