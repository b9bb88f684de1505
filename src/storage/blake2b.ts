// BLAKE2b (RFC 7693), unkeyed, any digest length 1..64. Container v2 stores lease secrets
// as BLAKE2b-256 (§9.1); Node 20's OpenSSL only offers the 512-bit parameterisation, and a
// 256-bit BLAKE2b is not a truncation of it (the digest length is mixed into the IV).
// 64-bit words are kept as pairs of 32-bit halves for speed without BigInt.

const IV32 = new Uint32Array([
  0xf3bcc908, 0x6a09e667, 0x84caa73b, 0xbb67ae85, 0xfe94f82b, 0x3c6ef372, 0x5f1d36f1, 0xa54ff53a,
  0xade682d1, 0x510e527f, 0x2b3e6c1f, 0x9b05688c, 0xfb41bd6b, 0x1f83d9ab, 0x137e2179, 0x5be0cd19,
]); // [lo, hi] per word

const SIGMA = [
  [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15],
  [14, 10, 4, 8, 9, 15, 13, 6, 1, 12, 0, 2, 11, 7, 5, 3],
  [11, 8, 12, 0, 5, 2, 15, 13, 10, 14, 3, 6, 7, 1, 9, 4],
  [7, 9, 3, 1, 13, 12, 11, 14, 2, 6, 5, 10, 4, 0, 15, 8],
  [9, 0, 5, 7, 2, 4, 10, 15, 14, 1, 11, 12, 6, 8, 3, 13],
  [2, 12, 6, 10, 0, 11, 8, 3, 4, 13, 7, 5, 15, 14, 1, 9],
  [12, 5, 1, 15, 14, 13, 4, 10, 0, 7, 6, 3, 9, 2, 8, 11],
  [13, 11, 7, 14, 12, 1, 3, 9, 5, 0, 15, 4, 8, 6, 2, 10],
  [6, 15, 14, 9, 11, 3, 0, 8, 12, 2, 13, 7, 1, 4, 10, 5],
  [10, 2, 8, 4, 7, 6, 1, 5, 15, 11, 9, 14, 3, 12, 13, 0],
];

const v = new Uint32Array(32);
const m = new Uint32Array(32);

// v[a] += v[b] (64-bit, as lo/hi pairs)
function add64(a: number, b: number) {
  const lo = v[a] + v[b];
  v[a + 1] = (v[a + 1] + v[b + 1] + (lo / 0x100000000 >= 1 ? 1 : 0)) >>> 0;
  v[a] = lo >>> 0;
}
function addM(a: number, i: number) {
  const lo = v[a] + m[i];
  v[a + 1] = (v[a + 1] + m[i + 1] + (lo / 0x100000000 >= 1 ? 1 : 0)) >>> 0;
  v[a] = lo >>> 0;
}
// v[d] = rotr64(v[d] ^ v[a], n)
function xorRot(d: number, a: number, n: number) {
  const lo = v[d] ^ v[a];
  const hi = v[d + 1] ^ v[a + 1];
  if (n === 32) {
    v[d] = hi;
    v[d + 1] = lo;
  } else if (n < 32) {
    v[d] = (lo >>> n) | (hi << (32 - n));
    v[d + 1] = (hi >>> n) | (lo << (32 - n));
  } else {
    const k = n - 32;
    v[d] = (hi >>> k) | (lo << (32 - k));
    v[d + 1] = (lo >>> k) | (hi << (32 - k));
  }
}

function mix(a: number, b: number, c: number, d: number, x: number, y: number) {
  add64(a, b);
  addM(a, x);
  xorRot(d, a, 32);
  add64(c, d);
  xorRot(b, c, 24);
  add64(a, b);
  addM(a, y);
  xorRot(d, a, 16);
  add64(c, d);
  xorRot(b, c, 63);
}

function compress(h: Uint32Array, block: Uint8Array, t: number, last: boolean) {
  for (let i = 0; i < 16; i++) v[i] = h[i];
  for (let i = 0; i < 16; i++) v[16 + i] = IV32[i];
  v[24] ^= t >>> 0; // low word of the 128-bit byte counter
  v[25] ^= Math.floor(t / 0x100000000);
  if (last) {
    v[28] = ~v[28] >>> 0;
    v[29] = ~v[29] >>> 0;
  }
  for (let i = 0; i < 32; i++) {
    const o = i * 4;
    m[i] = (block[o] | (block[o + 1] << 8) | (block[o + 2] << 16) | (block[o + 3] << 24)) >>> 0;
  }
  for (let r = 0; r < 12; r++) {
    const s = SIGMA[r % 10];
    mix(0, 8, 16, 24, s[0] * 2, s[1] * 2);
    mix(2, 10, 18, 26, s[2] * 2, s[3] * 2);
    mix(4, 12, 20, 28, s[4] * 2, s[5] * 2);
    mix(6, 14, 22, 30, s[6] * 2, s[7] * 2);
    mix(0, 10, 20, 30, s[8] * 2, s[9] * 2);
    mix(2, 12, 22, 24, s[10] * 2, s[11] * 2);
    mix(4, 14, 16, 26, s[12] * 2, s[13] * 2);
    mix(6, 8, 18, 28, s[14] * 2, s[15] * 2);
  }
  for (let i = 0; i < 16; i++) h[i] = (h[i] ^ v[i] ^ v[16 + i]) >>> 0;
}

/** Unkeyed BLAKE2b with an `outLength`-byte digest (1..64; 32 = BLAKE2b-256). */
export function blake2b(input: Uint8Array, outLength = 64): Uint8Array {
  if (!Number.isInteger(outLength) || outLength < 1 || outLength > 64) {
    throw new RangeError(`BLAKE2b digest length must be 1..64 bytes, got ${outLength}`);
  }
  const h = new Uint32Array(IV32);
  h[0] ^= 0x01010000 ^ outLength; // parameter block: fanout 1, depth 1, no key
  const block = new Uint8Array(128);
  let t = 0;
  let pos = 0;
  // All full blocks except the final one (which must be compressed with the last flag).
  while (input.length - pos > 128) {
    t += 128;
    compress(h, input.subarray(pos, pos + 128), t, false);
    pos += 128;
  }
  block.fill(0);
  block.set(input.subarray(pos));
  t += input.length - pos;
  compress(h, block, t, true);
  const out = new Uint8Array(64);
  for (let i = 0; i < 16; i++) {
    out[i * 4] = h[i] & 0xff;
    out[i * 4 + 1] = (h[i] >>> 8) & 0xff;
    out[i * 4 + 2] = (h[i] >>> 16) & 0xff;
    out[i * 4 + 3] = (h[i] >>> 24) & 0xff;
  }
  return out.slice(0, outLength);
}

/** BLAKE2b-256, how container v2 stores lease renew/cancel secrets. */
export const blake2b256 = (input: Uint8Array) => blake2b(input, 32);
