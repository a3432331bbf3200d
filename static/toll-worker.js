/*
 * toll-worker.js — solves the waiting room's proof-of-work toll off the page's main thread.
 * Started by Ticketd.solveChallenge (ticketd.js) as a Web Worker from this file (the pages'
 * CSP allows no inline or blob workers).
 *
 * The toll: find a nonce such that SHA-256 of the UTF-8 text `challenge + ":" + nonce` starts
 * with `bits` zero bits (big-endian: the first bits of the first digest bytes).
 *
 * In:  {challenge, bits, start, stride, impl?, batch?}. This worker tries the nonces start,
 *      start + stride, start + 2·stride, … written in decimal (several workers share the
 *      space by taking different starts). impl "subtle" or "js" forces one hash; by default
 *      SubtleCrypto where there is one (secure contexts: https and localhost), else the small
 *      SHA-256 below.
 * Out: {progress: tried, impl} now and then (about every 100 ms), then {nonce, tried, impl};
 *      {error} if it cannot go on.
 */
"use strict";

// Digests in flight per round trip to SubtleCrypto. Measured in headless Chromium: 16–128 are
// about equally fast, larger batches slower (the promises pile up), one at a time much slower.
const BATCH = 128;
const REPORT_MS = 100;

const encoder = new TextEncoder();

/** Whether the digest (a byte array) starts with `bits` zero bits. */
function leadingZeros(bytes, bits) {
  let i = 0;
  for (; bits >= 8; bits -= 8, i++) if (bytes[i] !== 0) return false;
  return bits === 0 || (bytes[i] >> (8 - bits)) === 0;
}

/** Writes n's decimal digits into buf at offset; returns the end. */
function writeDecimal(buf, offset, n) {
  if (n === 0) { buf[offset] = 48; return offset + 1; }
  let digits = 0;
  for (let m = n; m > 0; m = Math.floor(m / 10)) digits++;
  for (let i = offset + digits - 1, m = n; i >= offset; i--, m = Math.floor(m / 10)) buf[i] = 48 + (m % 10);
  return offset + digits;
}

// ------------------------------------------------------------------ SubtleCrypto

async function solveSubtle(job, report) {
  const BATCH = job.batch;
  const prefix = encoder.encode(`${job.challenge}:`);
  const bufs = Array.from({ length: BATCH }, () => {
    const b = new Uint8Array(prefix.length + 20);
    b.set(prefix);
    return b;
  });
  let n = job.start, tried = 0;
  for (;;) {
    const nonces = new Array(BATCH);
    const digests = new Array(BATCH);
    for (let i = 0; i < BATCH; i++, n += job.stride) {
      nonces[i] = n;
      const end = writeDecimal(bufs[i], prefix.length, n);
      digests[i] = crypto.subtle.digest("SHA-256", bufs[i].subarray(0, end));
    }
    const results = await Promise.all(digests);
    for (let i = 0; i < BATCH; i++) {
      if (leadingZeros(new Uint8Array(results[i]), job.bits)) return { nonce: String(nonces[i]), tried: tried + i + 1 };
    }
    tried += BATCH;
    report(tried);
  }
}

// ------------------------------------------------------------------ SHA-256 in plain JS

const K = new Uint32Array([
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
  0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
  0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
  0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
  0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
  0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
]);
const H0 = [0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19];

/** One SHA-256 compression of the 64-byte block at bytes[offset…] into state (8 words). */
function compress(state, bytes, offset, w) {
  for (let i = 0; i < 16; i++) {
    const j = offset + 4 * i;
    w[i] = (bytes[j] << 24) | (bytes[j + 1] << 16) | (bytes[j + 2] << 8) | bytes[j + 3];
  }
  for (let i = 16; i < 64; i++) {
    const a = w[i - 15], b = w[i - 2];
    const s0 = ((a >>> 7) | (a << 25)) ^ ((a >>> 18) | (a << 14)) ^ (a >>> 3);
    const s1 = ((b >>> 17) | (b << 15)) ^ ((b >>> 19) | (b << 13)) ^ (b >>> 10);
    w[i] = (w[i - 16] + s0 + w[i - 7] + s1) | 0;
  }
  let a = state[0], b = state[1], c = state[2], d = state[3], e = state[4], f = state[5], g = state[6], h = state[7];
  for (let i = 0; i < 64; i++) {
    const S1 = ((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7));
    const t1 = (h + S1 + ((e & f) ^ (~e & g)) + K[i] + w[i]) | 0;
    const S0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10));
    const t2 = (S0 + ((a & b) ^ (a & c) ^ (b & c))) | 0;
    h = g; g = f; f = e; e = (d + t1) | 0; d = c; c = b; b = a; a = (t1 + t2) | 0;
  }
  state[0] = (state[0] + a) | 0; state[1] = (state[1] + b) | 0; state[2] = (state[2] + c) | 0;
  state[3] = (state[3] + d) | 0; state[4] = (state[4] + e) | 0; state[5] = (state[5] + f) | 0;
  state[6] = (state[6] + g) | 0; state[7] = (state[7] + h) | 0;
}

/** SHA-256 of a byte array, as 32 bytes (for the self-test; the solver below avoids copies). */
function sha256(bytes) {
  const blocks = Math.ceil((bytes.length + 9) / 64);
  const buf = new Uint8Array(blocks * 64);
  buf.set(bytes);
  buf[bytes.length] = 0x80;
  const bitLength = bytes.length * 8;
  new DataView(buf.buffer).setUint32(buf.length - 4, bitLength >>> 0);
  new DataView(buf.buffer).setUint32(buf.length - 8, Math.floor(bitLength / 2 ** 32));
  const state = new Int32Array(H0), w = new Int32Array(64);
  for (let i = 0; i < blocks; i++) compress(state, buf, i * 64, w);
  const out = new Uint8Array(32);
  for (let i = 0; i < 8; i++) new DataView(out.buffer).setInt32(4 * i, state[i]);
  return out;
}

function solveJs(job, report) {
  const prefix = encoder.encode(`${job.challenge}:`);
  const w = new Int32Array(64);
  // The prefix's whole blocks are hashed once (the midstate); each try hashes only the rest.
  const whole = Math.floor(prefix.length / 64) * 64;
  const mid = new Int32Array(H0);
  for (let i = 0; i < whole; i += 64) compress(mid, prefix, i, w);
  const tail = prefix.subarray(whole);
  const buf = new Uint8Array(192);
  const view = new DataView(buf.buffer);
  const state = new Int32Array(8);
  const digest = new Uint8Array(32);
  const digestView = new DataView(digest.buffer);
  buf.set(tail);
  let n = job.start, tried = 0;
  for (;;) {
    for (let k = 0; k < 4096; k++, n += job.stride) {
      const end = writeDecimal(buf, tail.length, n);
      const blocks = Math.ceil((end + 9) / 64);
      buf.fill(0, end, blocks * 64);
      buf[end] = 0x80;
      const bitLength = (whole + end) * 8;
      view.setUint32(blocks * 64 - 4, bitLength >>> 0);
      view.setUint32(blocks * 64 - 8, Math.floor(bitLength / 2 ** 32));
      state.set(mid);
      for (let b = 0; b < blocks; b++) compress(state, buf, b * 64, w);
      for (let i = 0; i < 8; i++) digestView.setInt32(4 * i, state[i]);
      if (leadingZeros(digest, job.bits)) return { nonce: String(n), tried: tried + k + 1 };
    }
    tried += 4096;
    report(tried);
  }
}

// ------------------------------------------------------------------ the worker

/** Our SHA-256 against the standard's test vectors: a broken one must never be used. */
function selfTest() {
  const hex = (bytes) => Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  return hex(sha256(encoder.encode("abc"))) === "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    && hex(sha256(encoder.encode("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq")))
      === "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1";
}

self.onmessage = async (ev) => {
  const job = ev.data || {};
  job.bits = Math.max(0, Number(job.bits) || 0);
  job.start = Number(job.start) || 0;
  job.stride = Math.max(1, Number(job.stride) || 1);
  job.batch = Math.max(1, Math.min(65536, Number(job.batch) || BATCH));
  const subtle = self.crypto && self.crypto.subtle && typeof self.crypto.subtle.digest === "function";
  const impl = job.impl === "js" || (job.impl !== "subtle" && !subtle) ? "js" : "subtle";
  let last = 0;
  const report = (tried) => {
    const now = Date.now();
    if (now - last >= REPORT_MS) { last = now; self.postMessage({ progress: tried, impl }); }
  };
  try {
    if (impl === "js" && !selfTest()) throw new Error("SHA-256 self-test failed");
    if (impl === "subtle" && !subtle) throw new Error("SubtleCrypto is not available here");
    const found = impl === "subtle" ? await solveSubtle(job, report) : solveJs(job, report);
    self.postMessage({ ...found, impl });
  } catch (err) {
    self.postMessage({ error: String((err && err.message) || err) });
  }
};
