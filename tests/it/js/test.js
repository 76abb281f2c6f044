// The browser half of tests/it/js_modules.rs: exercises the modules of src/web/static/ and posts
// what they produced to the test server (POST /result/<stage>), where Rust checks it against the
// server's own code. Stage 1 does the work; stage 2 runs after a reload and checks that the
// keys and the outbox survived it.

import * as util from '/app/static/wl-util.js';
import { canonicalize, parseCanonical } from '/app/static/wl-canon.js';
import * as keys from '/app/static/wl-keys.js';
import * as sign from '/app/static/wl-sign.js';
import * as codes from '/app/static/wl-codes.js';
import * as outbox from '/app/static/wl-outbox.js';
import * as scan from '/app/static/wl-scan.js';
import * as ed from '/app/static/vendor/noble-ed25519.js';

const out = { errors: [] };
const stage = new URLSearchParams(location.search).get('stage') || '1';

async function section(name, fn) {
  try {
    await fn();
  } catch (e) {
    out.errors.push(`${name}: ${e && e.stack ? e.stack : e}`);
  }
}

async function json(path) {
  const r = await fetch(path);
  if (!r.ok) throw new Error(`${path}: ${r.status}`);
  return r.json();
}

const verdictText = (v) => (v.verdict === 'malformed' ? `malformed: ${v.field}` : v.verdict);

const L = 2n ** 252n + 27742317777372353535851937790883648493n;
const le = (b) => b.reduceRight((n, x) => (n << 8n) | BigInt(x), 0n);
const toLe32 = (n) => Uint8Array.from({ length: 32 }, (_, i) => Number((n >> BigInt(8 * i)) & 0xffn));

const EVENT = {
  type: 'custody.handover',
  manifest: '20263205000123',
  from: '91320583MA1MXK7P33',
  to: '91320583MA1HAUL01B',
  at: '2026-11-23T08:30:12.345Z',
  lines: [{ line: 0, quantity: { amount: 336000, unit: 'g' } }],
  vehicle: '苏E7H261',
  note: '司机签字 "引号" \\ 🚚 \u0001',
};

async function signedBy(slot) {
  const wire = await sign.signEvent(EVENT, { slot });
  const body = util.utf8Encode('{"q":"收运"}');
  const path = '/v1/search?subject=plate&value=%E8%8B%8FE7H261';
  return {
    slot,
    engine: await keys.engine(slot),
    publicKey: (await keys.publicKey(slot)).b64,
    fingerprint: await keys.fingerprint(slot),
    wire: sign.wireText(wire),
    header: await sign.authHeader('POST', path, body, { slot }),
    getHeader: await sign.authHeader('GET', '/v1/manifests', null, { slot }),
    method: 'POST',
    path,
    body: '{"q":"收运"}',
  };
}

async function stage1() {
  localStorage.removeItem('wl_engine');
  const v = await json('/fixtures/qr/vectors.json');
  const h = await json('/fixtures/qr/handover_vectors.json');

  await section('tokens', async () => {
    out.tokens = [];
    for (const t of v.valid) {
      const token = codes.payloadToken(t.payload);
      const d = codes.decodeToken(token);
      const r = await codes.verifyToken(d, v.log.verifier_key);
      const c = await codes.checkToken(t.payload, v.log.verifier_key);
      const other = await codes.checkToken(t.payload, v.other_log.verifier_key);
      out.tokens.push({
        name: t.name,
        token,
        verdict: r.verdict,
        check: c.verdict,
        with_other_key: other.verdict,
        body: JSON.parse(canonicalize(d.body)),
        body_hex: util.hexEncode(d.bodyBytes),
        key_id_hex: d.keyIdHex,
        signature_hex: util.hexEncode(d.signature),
      });
    }
    out.invalid_tokens = [];
    for (const t of v.invalid) {
      // The vectors' verdicts are those of the token text itself (not of a QR payload).
      let r;
      try {
        r = await codes.verifyToken(t.token, v.log.verifier_key);
      } catch (e) {
        if (!(e instanceof codes.CodeError)) throw e;
        r = e;
      }
      out.invalid_tokens.push({ name: t.name, verdict: verdictText(r) });
    }
    // Mutations the vectors do not hold; Rust reaches its own verdict on the same text.
    const d = codes.decodeToken(v.valid[0].token);
    const sig = d.signature.slice();
    sig.set(toLe32(le(sig.subarray(32)) + L), 32);
    const sPlusL = 'WL' + util.b32encode(util.concatBytes(d.bodyBytes, d.keyId, sig));
    const pad = v.valid[0].token + '=';
    const lastBits = v.valid[0].token.slice(0, -1) + 'R'; // 'Q' → 'R': a nonzero unused bit
    const url = 'https://wl.ks.example/m/' + v.valid[0].token + '/?x=1#y';
    const notCode = 'https://wl.ks.example/help';
    out.extra_tokens = [];
    for (const [name, text] of [['S + L', sPlusL], ['padding', pad], ['nonzero trailing bits', lastBits], ['url with query', url], ['not a code', notCode]]) {
      out.extra_tokens.push({ name, text, verdict: verdictText(await codes.checkToken(text, v.log.verifier_key)) });
    }
    let bad = null;
    try {
      await codes.parseVerifierKey(v.log.verifier_key.replace('+d1a3d774+', '+d1a3d775+'));
    } catch (e) {
      bad = e.message;
    }
    out.verifier_key_wrong_id = bad;
  });

  await section('handover', async () => {
    out.handovers = [];
    for (const t of h.valid) {
      const d = codes.decodeHandover(t.code);
      const r = await codes.verifyHandover(d);
      out.handovers.push({ name: t.name, canonical: d.canonical, key: d.key, verdict: r.verdict });
    }
    out.invalid_handovers = [];
    for (const t of h.invalid) {
      out.invalid_handovers.push({ name: t.name, verdict: verdictText(await codes.checkHandover(t.code)) });
    }
    // A signature with a small-order R (order 8) that the giver's own key makes hold in the
    // cofactored equation: noble's strict verify takes it, the server's verify_strict does not.
    const seed = util.hexDecode(h.giver_ed25519_seed_hex);
    const { scalar } = await ed.utils.getExtendedPublicKeyAsync(seed);
    const d = codes.decodeHandover(h.valid[0].code);
    const R = util.hexDecode('c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a');
    const msg = util.concatBytes(util.utf8Encode(sign.EVENT_CONTEXT), d.canonicalBytes);
    const k = le(new Uint8Array(await crypto.subtle.digest('SHA-512', util.concatBytes(R, d.keyBytes, msg)))) % L;
    const forged = util.concatBytes(R, toLe32((k * scalar) % L));
    const bin = util.b32decode(h.valid[0].code.slice(4));
    bin.set(forged, bin.length - 64);
    const code = 'WLH1' + util.b32encode(bin);
    out.small_order_r = {
      code,
      r_is_small_order: ed.Point.fromBytes(R).isSmallOrder(),
      noble_strict_accepts: await ed.verifyAsync(forged, msg, d.keyBytes, { zip215: false }),
      verdict: verdictText(await codes.checkHandover(code)),
    };
  });

  await section('canon', async () => {
    const samples = [
      { '\uFB01': 1, '😀': 2, a: [1, 'x', { b: true }], z: null },
      { ctl: '\u0000\u0008\u001f\u007f"\\/é\u2028\uE000\uFFFF', neg: -9007199254740991, max: 9007199254740991, zero: -0, big: 12345678901234n },
      { nested: { é: { A: [], '': {} } }, list: [[], [null, false, 0]] },
      EVENT,
    ];
    out.canon = samples.map((s) => canonicalize(s));
    const refused = [1.5, 2 ** 53, -(2 ** 53), NaN, Infinity, { a: undefined }, '\uD800', ['\uDC00x'], new Date(0), { f: () => 1 }, 2n ** 60n];
    out.canon_refused = refused.map((x) => {
      try {
        canonicalize(x);
        return false;
      } catch (e) {
        return true;
      }
    });
    const notCanonical = ['{"b":1,"a":2}', '{ "a":1}', '{"a":1,"a":2}', '{"a":"\\u0041"}', '{"a":1.0}', '{"a":1e2}', '{"a":-0}', '{"a":"\\/"}'];
    out.parse_refused = notCanonical.map((x) => {
      try {
        parseCanonical(x);
        return false;
      } catch (e) {
        return true;
      }
    });
    let msg = '';
    try {
      canonicalize({ lines: [{ quantity: { amount: 1.5 } }] });
    } catch (e) {
      msg = e.message;
    }
    out.canon_error = msg;
  });

  await section('util', async () => {
    const bytes = Uint8Array.from({ length: 40 }, (_, i) => (i * 37 + 11) & 0xff);
    out.util = {
      hex: util.hexEncode(bytes),
      b64: util.b64encode(bytes),
      b64url: util.b64urlEncode(bytes),
      b32: util.b32encode(bytes),
      round_trips: [1, 2, 3, 4, 5, 6, 39, 40].every((n) => {
        const b = bytes.subarray(0, n);
        return (
          util.equalBytes(util.b64decode(util.b64encode(b)), b) &&
          util.equalBytes(util.b64urlDecode(util.b64urlEncode(b)), b) &&
          util.equalBytes(util.b32decode(util.b32encode(b)), b) &&
          util.equalBytes(util.hexDecode(util.hexEncode(b)), b)
        );
      }),
      sha256_abc: util.hexEncode(await util.sha256(util.utf8Encode('abc'))),
    };
    const refuses = (f) => {
      try {
        f();
        return false;
      } catch (e) {
        return true;
      }
    };
    out.util.refusals = [
      refuses(() => util.b32decode('mzxw6')), // lower case
      refuses(() => util.b32decode('MZXW6===')), // padding
      refuses(() => util.b32decode('MZXW7')), // nonzero trailing bits
      refuses(() => util.b32decode('MZX')), // impossible length
      refuses(() => util.b64decode('Zm9v!A==')),
      refuses(() => util.b64decode('Zm9=')), // nonzero trailing bits
      refuses(() => util.b64decode('Zm9vYg')), // unpadded
      refuses(() => util.hexDecode('abc')),
      refuses(() => util.utf8Decode(Uint8Array.of(0xc3))),
    ];
  });

  await section('keys', async () => {
    out.webcrypto_available = await keys.webcryptoAvailable();
    out.signed = [];
    // 1. WebCrypto, chosen by default.
    await keys.forget('wc');
    const wc = await keys.generate({ slot: 'wc' });
    out.signed.push(await signedBy('wc'));
    // A slot holds one key until forgotten.
    let refusedSecond = false;
    try {
      await keys.generate({ slot: 'wc' });
    } catch (e) {
      refusedSecond = true;
    }
    out.second_generate_refused = refusedSecond;
    out.wc_public = wc.publicKeyB64;
    // 2. The noble fallback, forced as a test (or a misbehaving webview) forces it.
    localStorage.wl_engine = 'noble';
    out.engine_when_forced = await keys.engine('nothing-here');
    await keys.generate({ slot: 'nb' });
    out.signed.push(await signedBy('nb'));
    localStorage.removeItem('wl_engine');
    // 3. A key file written by wasteledger::keyfile::write, imported (WebCrypto, non-extractable)
    //    and, into another slot, with the fallback: both must be the same key.
    const pem = await (await fetch('/data/key.pem')).text();
    await keys.importPkcs8(pem, { slot: 'party' });
    out.signed.push(await signedBy('party'));
    await keys.importPkcs8(pem, { slot: 'party-noble', engine: 'noble' });
    out.signed.push(await signedBy('party-noble'));
    let badFile = '';
    try {
      await keys.importPkcs8('-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n', { slot: 'x' });
    } catch (e) {
      badFile = e.message;
    }
    out.bad_key_file = badFile;
    // 4. The clerk's party key countersigns the phone's half.
    const half = await sign.signEvent(EVENT, { slot: 'wc' });
    const both = await sign.countersign(sign.wireText(half), { slot: 'party' });
    out.countersigned = sign.wireText(both);
    // A half whose signature was damaged is not countersigned.
    const damaged = JSON.parse(sign.wireText(half));
    damaged.event.lines[0].quantity.amount += 1;
    let refused = '';
    try {
      await sign.countersign(damaged, { slot: 'party' });
    } catch (e) {
      refused = e.message;
    }
    out.countersign_damaged = refused;
    out.slots = (await keys.slots()).sort();
    await keys.forget('party-noble');
    out.slots_after_forget = (await keys.slots()).sort();
  });

  await section('outbox', async () => {
    for (const it of await outbox.list()) await outbox.dismiss(it.id);
    const w = await sign.signEvent(EVENT, { slot: 'wc' });
    const a = await outbox.enqueue(w, { title: 'first' });
    const b = await outbox.enqueue(sign.wireText(w), { title: 'second' });
    const c = await outbox.enqueue(w, { title: 'third' });
    const posted = [];
    const answers = [
      () => new Response(JSON.stringify({ index: 7, leaf_hash: 'x', tree_size: 8 }), { status: 201 }),
      () => {
        throw new TypeError('Failed to fetch');
      },
    ];
    const first = await outbox.flush(async (item) => {
      posted.push(item.wire);
      return answers.shift()();
    });
    const afterFirst = (await outbox.list()).map((i) => ({ id: i.id, title: i.meta.title, state: i.state, lastError: i.lastError || null }));
    const problem = { type: 'urn:wasteledger:problem:refused', title: 'Event refused', status: 422, detail: 'lines[0]: no such line', field: 'lines[0]' };
    const answers2 = [
      () => new Response(JSON.stringify(problem), { status: 422 }),
      () => new Response(JSON.stringify({ type: 'urn:wasteledger:problem:replay', status: 409, existing_index: 7 }), { status: 409 }),
    ];
    const second = await outbox.flush(async () => answers2.shift()());
    const afterSecond = (await outbox.list()).map((i) => ({ id: i.id, title: i.meta.title, state: i.state, problem: i.problem || null }));
    // A busy server (503) keeps the item queued and stops.
    const busyItem = await outbox.enqueue(w, { title: 'fourth' });
    const third = await outbox.flush(async () => new Response('{"status":503}', { status: 503 }));
    out.outbox = {
      ids: [a, b, c, busyItem],
      posted_canonical: posted.every((p) => p === sign.wireText(w)),
      first: first.map((o) => ({ id: o.id, outcome: o.outcome, index: o.index ?? null })),
      after_first: afterFirst,
      second: second.map((o) => ({ id: o.id, outcome: o.outcome, index: o.index ?? null, problem: o.problem || null })),
      after_second: afterSecond,
      third: third.map((o) => ({ id: o.id, outcome: o.outcome })),
      left: (await outbox.list()).map((i) => ({ title: i.meta.title, state: i.state })),
    };
  });

  await section('scan', async () => {
    const blob = await (await fetch('/data/qr.png')).blob();
    out.scan = { detector: await scan.detectorKind(), text: await scan.scanImage(blob) };
    const blank = await (await fetch('/data/blank.png')).blob();
    out.scan.blank = await scan.scanImage(blank);
  });
}

async function stage2() {
  // After a reload: the keys and the outbox are where they were.
  await section('reload', async () => {
    out.after_reload = {
      slots: (await keys.slots()).sort(),
      wc_engine: await keys.engine('wc'),
      wc_public: (await keys.publicKey('wc')).b64,
      outbox: (await outbox.list()).map((i) => ({ title: i.meta.title, state: i.state })),
    };
    out.signed_after_reload = await signedBy('wc');
  });
}

(async () => {
  await (stage === '1' ? stage1() : stage2());
  const text = JSON.stringify(out, null, 1);
  document.getElementById('result').textContent = text;
  await fetch(`/result/${stage}`, { method: 'POST', body: text });
  if (stage === '1') location.href = location.pathname + '?stage=2';
})();
