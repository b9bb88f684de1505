// The multiply-accumulate kernel: outputs[r] = Σ_j coeffs[r·cols + j] · inputs[j], byte by
// byte over `length` bytes. Both backends (TypeScript here, C in native/) implement it;
// everything else in the codec (matrices, validation) is shared.
import { MUL_TABLE, mulRow } from './gf256.js';

export type BackendName = 'typescript' | 'native';

export interface MulKernel {
  readonly name: BackendName;
  /**
   * Writes outputs[r] = Σ_j coeffs[r·cols + j] · inputs[j] for the first `length` bytes,
   * where cols = inputs.length and r < outputs.length. Outputs must start zeroed (the
   * TypeScript kernel XORs into them) and be 4-byte aligned, as fresh Uint8Arrays are.
   */
  mulMatrix(
    coeffs: Uint8Array,
    inputs: readonly Uint8Array[],
    outputs: readonly Uint8Array[],
    length: number,
  ): void;
}

// Work through the buffers in slices small enough that each output slice and the k input
// slices stay in cache while every coefficient of a row is applied to them.
const CHUNK = 16 * 1024;

export const typescriptKernel: MulKernel = {
  name: 'typescript',
  mulMatrix(coeffs, inputs, outputs, length) {
    const cols = inputs.length;
    // 4 bytes per step through Uint32 views: one load of 4 source bytes, four table lookups
    // put back in place, one XOR into the output. Byte order does not matter, since every
    // byte stays in its lane.
    const words = length >>> 2;
    const in32 = inputs.map((b) => words32(aligned(b, length), words));
    const out32 = outputs.map((b) => words32(b, words));
    for (let start = 0; start < words; start += CHUNK >>> 2) {
      const end = Math.min(start + (CHUNK >>> 2), words);
      for (let r = 0; r < outputs.length; r++) {
        const dst = out32[r];
        let j = 0;
        // Two coefficients per pass halve the loads and stores of the output.
        for (; j + 1 < cols; j += 2) {
          const c1 = coeffs[r * cols + j];
          const c2 = coeffs[r * cols + j + 1];
          if (c1 === 0) addMul32(dst, in32[j + 1], c2, start, end);
          else if (c2 === 0) addMul32(dst, in32[j], c1, start, end);
          else addMul32Pair(dst, in32[j], c1, in32[j + 1], c2, start, end);
        }
        if (j < cols) addMul32(dst, in32[j], coeffs[r * cols + j], start, end);
      }
    }
    // The last length % 4 bytes, one at a time.
    for (let r = 0; r < outputs.length; r++) {
      const dst = outputs[r];
      for (let j = 0; j < cols; j++) {
        const base = coeffs[r * cols + j] << 8;
        if (base === 0) continue;
        const src = inputs[j];
        for (let i = words << 2; i < length; i++) dst[i] ^= MUL_TABLE[base | src[i]];
      }
    }
  },
};

/** The array itself if its bytes can be viewed as Uint32, else an aligned copy. */
function aligned(b: Uint8Array, length: number): Uint8Array {
  return b.byteOffset % 4 === 0 ? b : b.slice(0, length);
}

function words32(b: Uint8Array, words: number): Uint32Array {
  return new Uint32Array(b.buffer, b.byteOffset, words);
}

// The 256-byte row of the product table for one coefficient: indexes below 256 are
// provably in bounds, which V8 compiles into a tighter loop than offsets into MUL_TABLE.
function addMul32(dst: Uint32Array, src: Uint32Array, c: number, start: number, end: number) {
  if (c === 0) return;
  if (c === 1) {
    for (let i = start; i < end; i++) dst[i] ^= src[i];
    return;
  }
  const t = mulRow(c);
  for (let i = start; i < end; i++) {
    const s = src[i];
    dst[i] ^=
      t[s & 255] | (t[(s >>> 8) & 255] << 8) | (t[(s >>> 16) & 255] << 16) | (t[s >>> 24] << 24);
  }
}

function addMul32Pair(
  dst: Uint32Array,
  src1: Uint32Array,
  c1: number,
  src2: Uint32Array,
  c2: number,
  start: number,
  end: number,
) {
  const t = mulRow(c1);
  const u = mulRow(c2);
  for (let i = start; i < end; i++) {
    const s = src1[i];
    const v = src2[i];
    dst[i] ^=
      (t[s & 255] ^ u[v & 255]) |
      ((t[(s >>> 8) & 255] ^ u[(v >>> 8) & 255]) << 8) |
      ((t[(s >>> 16) & 255] ^ u[(v >>> 16) & 255]) << 16) |
      ((t[s >>> 24] ^ u[v >>> 24]) << 24);
  }
}
