// Arithmetic in GF(2^8) with zfec's primitive polynomial x^8+x^4+x^3+x^2+1 (0x11D) and
// generator α = 2. Everything is precomputed once: log/exp tables and a full 256×256
// product table, so the hot loops do one lookup per byte and never allocate.

export const POLYNOMIAL = 0x11d;

/** EXP[i] = α^i for 0 ≤ i < 510 (doubled so EXP[log a + log b] needs no reduction). */
export const EXP = new Uint8Array(510);
/** LOG[a] = i with α^i = a, for a ≠ 0 (LOG[0] is unused). */
export const LOG = new Uint8Array(256);

{
  let x = 1;
  for (let i = 0; i < 255; i++) {
    EXP[i] = x;
    EXP[i + 255] = x;
    LOG[x] = i;
    x <<= 1;
    if (x & 0x100) x ^= POLYNOMIAL;
  }
}

/** MUL_TABLE[c * 256 + x] = c·x; `mulRow(c)` is the 256-byte row for one coefficient. */
export const MUL_TABLE = new Uint8Array(256 * 256);
for (let c = 1; c < 256; c++) {
  const logC = LOG[c];
  for (let x = 1; x < 256; x++) MUL_TABLE[c * 256 + x] = EXP[logC + LOG[x]];
}

export function mulRow(c: number): Uint8Array {
  return MUL_TABLE.subarray(c * 256, c * 256 + 256);
}

export function gfMul(a: number, b: number): number {
  return MUL_TABLE[(a << 8) | b];
}

export function gfInv(a: number): number {
  if (a === 0) throw new RangeError('0 has no inverse in GF(2^8)');
  return EXP[255 - LOG[a]];
}

/** α^e for any integer e ≥ 0. */
export function gfPow(e: number): number {
  return EXP[e % 255];
}
