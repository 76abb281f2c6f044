// wl-scan.js: reading QR codes with the phone's camera or from a photo.
//
// Uses the browser's BarcodeDetector where it has one that reads QR codes (Chrome on Android),
// else vendor/jsQR.js (loaded on first use as a classic script, which sets window.jsQR) on
// canvas frames. What was read is text only: check it with wl-codes.js (checkToken,
// checkHandover) before believing it.
//
// Exports:
//   scanVideo(videoEl, onText, {interval = 250, facingMode = 'environment'}) -> Promise<{stop(), detector}>
//        opens the camera (getUserMedia, the back camera), shows it in videoEl and reads a frame
//        every `interval` ms (jsQR frames are scaled to at most 640 px). onText(text) is called
//        for each new text read; the camera stops when onText returns true (or a promise of
//        true), or when stop() is called. Rejects if the camera cannot be opened (permission
//        refused, no camera, not a secure context): the page offers scanImage instead.
//   scanImage(fileOrBlob) -> Promise<string | null>
//        reads a photo (from <input type="file" accept="image/*" capture="environment">: one
//        big button that works with gloves), trying the full photo at up to 1600 px and then
//        smaller; null when no code was found.
//   decodeImageData(imageData) -> string | null      jsQR on pixels (loads jsQR if needed)
//   detectorKind() -> Promise<'barcode-detector' | 'jsqr'>   which reader is in use
//   loadJsQR() -> Promise<function>

let jsqrLoading = null;

export function loadJsQR() {
  if (globalThis.jsQR) return Promise.resolve(globalThis.jsQR);
  if (!jsqrLoading) {
    jsqrLoading = new Promise((resolve, reject) => {
      const s = document.createElement('script');
      s.src = new URL('./vendor/jsQR.js', import.meta.url).href;
      s.onload = () => (globalThis.jsQR ? resolve(globalThis.jsQR) : reject(new Error('jsQR did not load')));
      s.onerror = () => {
        jsqrLoading = null;
        reject(new Error('jsQR could not be loaded'));
      };
      document.head.appendChild(s);
    });
  }
  return jsqrLoading;
}

let detectorP = null;

function barcodeDetector() {
  if (!detectorP) {
    detectorP = (async () => {
      try {
        if (!('BarcodeDetector' in globalThis)) return null;
        const formats = await BarcodeDetector.getSupportedFormats();
        return formats.includes('qr_code') ? new BarcodeDetector({ formats: ['qr_code'] }) : null;
      } catch (e) {
        return null;
      }
    })();
  }
  return detectorP;
}

export async function detectorKind() {
  return (await barcodeDetector()) ? 'barcode-detector' : 'jsqr';
}

export async function decodeImageData(imageData) {
  const jsQR = await loadJsQR();
  const r = jsQR(imageData.data, imageData.width, imageData.height, { inversionAttempts: 'attemptBoth' });
  return r ? r.data : null;
}

function canvas(w, h) {
  if (globalThis.OffscreenCanvas) return new OffscreenCanvas(w, h);
  const c = document.createElement('canvas');
  c.width = w;
  c.height = h;
  return c;
}

// Pixels of a source (video, image bitmap) scaled so its longer side is at most `max`.
function pixels(source, sw, sh, max) {
  const scale = Math.min(1, max / Math.max(sw, sh));
  const w = Math.max(1, Math.round(sw * scale));
  const h = Math.max(1, Math.round(sh * scale));
  const c = canvas(w, h);
  const ctx = c.getContext('2d', { willReadFrequently: true });
  ctx.drawImage(source, 0, 0, w, h);
  return ctx.getImageData(0, 0, w, h);
}

async function detectWith(detector, source) {
  try {
    const codes = await detector.detect(source);
    return codes.length ? codes[0].rawValue : null;
  } catch (e) {
    return null;
  }
}

export async function scanImage(fileOrBlob) {
  const bmp = await createImageBitmap(fileOrBlob);
  try {
    const detector = await barcodeDetector();
    if (detector) {
      const t = await detectWith(detector, bmp);
      if (t) return t;
    }
    for (const max of [1600, 1000, 640]) {
      const t = await decodeImageData(pixels(bmp, bmp.width, bmp.height, max));
      if (t) return t;
    }
    return null;
  } finally {
    bmp.close();
  }
}

export async function scanVideo(videoEl, onText, { interval = 250, facingMode = 'environment' } = {}) {
  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
    throw new Error('camera: this browser gives no camera access here (a secure context, https, is needed); take a photo instead');
  }
  const stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode }, audio: false });
  const detector = await barcodeDetector();
  if (!detector) await loadJsQR();
  let stopped = false;
  let timer = null;
  let last = null;
  const stop = () => {
    if (stopped) return;
    stopped = true;
    clearTimeout(timer);
    for (const t of stream.getTracks()) t.stop();
    videoEl.srcObject = null;
    removeEventListener('pagehide', stop);
  };
  // Leaving the page never leaves the camera on.
  addEventListener('pagehide', stop);
  videoEl.setAttribute('playsinline', '');
  videoEl.muted = true;
  videoEl.srcObject = stream;
  try {
    await videoEl.play();
  } catch (e) {
    stop();
    throw new Error(`camera: the video would not play (${e.message})`);
  }
  const tick = async () => {
    if (stopped) return;
    let text = null;
    if (videoEl.readyState >= 2 && videoEl.videoWidth) {
      text = detector
        ? await detectWith(detector, videoEl)
        : await decodeImageData(pixels(videoEl, videoEl.videoWidth, videoEl.videoHeight, 640));
    }
    if (text && text !== last && !stopped) {
      last = text;
      let done = false;
      try {
        done = await onText(text);
      } catch (e) {
        done = false;
      }
      if (done === true) stop();
    }
    if (!stopped) timer = setTimeout(tick, interval);
  };
  timer = setTimeout(tick, 0);
  return { stop, detector: detector ? 'barcode-detector' : 'jsqr' };
}
