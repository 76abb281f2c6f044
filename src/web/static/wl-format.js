// wl-format.js: what people read, in the page's language: quantities and times.
//
// Exports:
//   quantity({amount, unit: 'g'|'ml'}) -> '340 千克' / '340 kg' (t, kg, g; L, ml)
//   toMilli('12.5') -> 12500   a decimal typed in kg or L as integer g or ml: exact, at most 3
//        places (a comma reads as the point); null when it is not such a number
//   fromMilli(12500) -> '12.5'  integer g or ml as the decimal in kg or L, as people write it
//   cst(dateOrIsoOrMillis) -> '2026-11-23 16:30 北京时间' (China Standard Time, UTC+8, whatever
//        the device's time zone)
//   cstField(dateOrIsoOrMillis) -> '2026-11-23 16:30'  the same as a CST form field takes it
//        (its first 10 characters are the CST date); null when it is no time
//   refusal(problem, words) -> {text, detail}   a server's RFC 9457 refusal in the page's words:
//        the field it names and the problem kind from the page's tables (`words.i18n.field`,
//        `words.i18n.problem`, as web::app::scan::words embeds them); `detail` is the server's
//        own sentence, for whoever must fix it (show it as raw text)

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

export function toMilli(text) {
  const s = String(text).trim().replace(/[，,]/g, '.');
  const m = s.match(/^(\d{1,12})(?:\.(\d{0,3}))?$/);
  if (!m) return null;
  return Number(m[1]) * 1000 + Number((m[2] || '').padEnd(3, '0'));
}

export function fromMilli(n) {
  const whole = Math.floor(n / 1000);
  const frac = String(n % 1000).padStart(3, '0').replace(/0+$/, '');
  return frac ? `${whole}.${frac}` : String(whole);
}

export function cst(when) {
  const f = cstField(when);
  return f === null ? String(when) : `${f} ${t('北京时间', 'CST')}`;
}

export function cstField(when) {
  const d = when instanceof Date ? when : new Date(when);
  if (Number.isNaN(d.getTime())) return null;
  return new Date(d.getTime() + 8 * 3600e3).toISOString().slice(0, 16).replace('T', ' ');
}

export function refusal(problem, words) {
  const i = (words && words.i18n) || {};
  const key = String((problem && problem.type) || '').split(':').pop();
  const kind = (i.problem || {})[key] || t('日志拒绝了这条记录', 'The log refused it');
  const parts = [];
  for (const seg of String((problem && problem.field) || '').split('.')) {
    if (seg === 'event') continue;
    const m = seg.match(/^([a-z_]+)\[(\d+)\]$/);
    const name = (i.field || {})[m ? m[1] : seg];
    if (m && m[1] === 'lines') parts.push(t(`第${Number(m[2]) + 1}行`, `line ${Number(m[2]) + 1}`));
    else if (name) parts.push(m ? `${name} ${Number(m[2]) + 1}` : name);
  }
  const where = parts.join(' ');
  return { text: where ? `${where}${t('：', ': ')}${kind}` : kind, detail: (problem && problem.detail) || '' };
}
