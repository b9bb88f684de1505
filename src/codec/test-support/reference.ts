// An independent, slow model of zfec's code for tests: shares are the values at the points
// 0, α^0, α^1, … of the polynomial of degree < k that takes the k input bytes at the first
// k points (which is what E = V·V_top⁻¹ computes). Uses its own shift-and-add field
// multiplication, not the codec's tables.

export function slowMul(a: number, b: number): number {
  let product = 0;
  while (b > 0) {
    if (b & 1) product ^= a;
    b >>>= 1;
    a <<= 1;
    if (a & 0x100) a ^= 0x11d;
  }
  return product;
}

function slowInv(a: number): number {
  for (let x = 1; x < 256; x++) if (slowMul(a, x) === 1) return x;
  throw new RangeError('no inverse');
}

/** The evaluation point of share r: 0 for r = 0, else α^(r−1) with α = 2. */
export function point(r: number): number {
  if (r === 0) return 0;
  let x = 1;
  for (let i = 0; i < r - 1; i++) x = slowMul(x, 2);
  return x;
}

/** Share r of the input blocks, by Lagrange interpolation through the first k points. */
export function referenceShare(blocks: Uint8Array[], r: number): Uint8Array {
  const k = blocks.length;
  const xs = Array.from({ length: k }, (_, j) => point(j));
  const x = point(r);
  const basis = xs.map((xj, j) => {
    let num = 1;
    let den = 1;
    for (let i = 0; i < k; i++) {
      if (i === j) continue;
      num = slowMul(num, x ^ xs[i]);
      den = slowMul(den, xj ^ xs[i]);
    }
    return slowMul(num, slowInv(den));
  });
  const out = new Uint8Array(blocks[0]?.length ?? 0);
  for (let t = 0; t < out.length; t++) {
    let acc = 0;
    for (let j = 0; j < k; j++) acc ^= slowMul(basis[j], blocks[j][t]);
    out[t] = acc;
  }
  return out;
}
