// zfec's matrices (tahoe-formats.md §6): the systematic encoding matrix E = V·V_top⁻¹ and,
// for decoding, the inverse of the rows of E that were received. Matrices are flat
// row-major Uint8Arrays.
import { gfInv, gfMul, gfPow, MUL_TABLE } from './gf256.js';

/** N×k Vandermonde matrix at the points 0, α^0, α^1, …, α^(N−2), as zfec builds it. */
export function vandermonde(k: number, n: number): Uint8Array {
  const v = new Uint8Array(n * k);
  v[0] = 1; // row 0 evaluates at 0: 0^0 = 1, all higher powers 0
  for (let r = 1; r < n; r++) {
    for (let c = 0; c < k; c++) v[r * k + c] = gfPow((r - 1) * c);
  }
  return v;
}

/**
 * Inverse of a k×k matrix by Gauss–Jordan elimination. The matrices handed to it (a
 * Vandermonde square, or k rows of E for distinct share numbers) are always invertible;
 * a singular one means a bug, hence a plain Error.
 */
export function invert(matrix: Uint8Array, k: number): Uint8Array {
  const a = Uint8Array.from(matrix);
  const inv = new Uint8Array(k * k);
  for (let i = 0; i < k; i++) inv[i * k + i] = 1;
  for (let col = 0; col < k; col++) {
    let pivot = col;
    while (pivot < k && a[pivot * k + col] === 0) pivot++;
    if (pivot === k) throw new Error(`internal: singular ${k}×${k} matrix in the codec`);
    if (pivot !== col) {
      swapRows(a, k, pivot, col);
      swapRows(inv, k, pivot, col);
    }
    const scale = gfInv(a[col * k + col]);
    scaleRow(a, k, col, scale);
    scaleRow(inv, k, col, scale);
    for (let r = 0; r < k; r++) {
      const f = a[r * k + col];
      if (r === col || f === 0) continue;
      subtractScaledRow(a, k, r, col, f);
      subtractScaledRow(inv, k, r, col, f);
    }
  }
  return inv;
}

function swapRows(m: Uint8Array, k: number, r1: number, r2: number): void {
  for (let c = 0; c < k; c++) {
    const t = m[r1 * k + c];
    m[r1 * k + c] = m[r2 * k + c];
    m[r2 * k + c] = t;
  }
}

function scaleRow(m: Uint8Array, k: number, r: number, f: number): void {
  const row = f << 8;
  for (let c = 0; c < k; c++) m[r * k + c] = MUL_TABLE[row | m[r * k + c]];
}

/** row[dst] ^= f · row[src] (subtraction is XOR in GF(2^8)). */
function subtractScaledRow(m: Uint8Array, k: number, dst: number, src: number, f: number): void {
  const row = f << 8;
  for (let c = 0; c < k; c++) m[dst * k + c] ^= MUL_TABLE[row | m[src * k + c]];
}

/** (a: r×n) · (b: n×c) → r×c. */
export function multiply(
  a: Uint8Array,
  b: Uint8Array,
  r: number,
  n: number,
  c: number,
): Uint8Array {
  const out = new Uint8Array(r * c);
  for (let i = 0; i < r; i++) {
    for (let j = 0; j < n; j++) {
      const f = a[i * n + j];
      if (f === 0) continue;
      for (let x = 0; x < c; x++) out[i * c + x] ^= gfMul(f, b[j * c + x]);
    }
  }
  return out;
}

/**
 * A small least-recently-used cache: encoding and decoding matrices are costly to build
 * for large k (an O(k³) inversion) but a program uses only a handful of parameter sets.
 */
class MatrixCache {
  private readonly map = new Map<string, Uint8Array>();
  constructor(private readonly capacity: number) {}

  get(key: string, build: () => Uint8Array): Uint8Array {
    const hit = this.map.get(key);
    if (hit) {
      this.map.delete(key);
      this.map.set(key, hit);
      return hit;
    }
    const value = build();
    this.map.set(key, value);
    if (this.map.size > this.capacity) this.map.delete(this.map.keys().next().value as string);
    return value;
  }
}

const encodingCache = new MatrixCache(64);
const decodingCache = new MatrixCache(64);

/** The full m×k systematic encoding matrix for (k, m); rows 0…k−1 are the identity. */
export function encodingMatrix(k: number, m: number): Uint8Array {
  return encodingCache.get(`${k},${m}`, () => {
    const v = vandermonde(k, m);
    const topInverse = invert(v.subarray(0, k * k), k);
    return multiply(v, topInverse, m, k, k);
  });
}

/**
 * The k×k matrix that turns the shares `shareNumbers` (in that order) back into the k
 * original blocks: the inverse of those rows of E.
 */
export function decodingMatrix(k: number, m: number, shareNumbers: readonly number[]): Uint8Array {
  return decodingCache.get(`${k},${m}:${shareNumbers.join(',')}`, () => {
    const e = encodingMatrix(k, m);
    const rows = new Uint8Array(k * k);
    shareNumbers.forEach((n, i) => rows.set(e.subarray(n * k, n * k + k), i * k));
    return invert(rows, k);
  });
}
