// The C kernel (native/) and the TypeScript kernel must give identical bytes. Skipped, with
// the reason, only when the addon is not built here.
import test from 'ava';
import { fc, testProp } from '@fast-check/ava';
import { codecWith, codecBackend, nativeUnavailableReason } from './index.js';
import { encodingMatrix } from './matrix.js';
import { nativeLoad } from './native.js';
import { typescriptKernel } from './kernel.js';
import { equalBytes } from '../encoding/bytes.js';

const title = (name: string) =>
  nativeUnavailableReason ? `${name} (skipped: ${nativeUnavailableReason})` : name;
const nativeTest = nativeUnavailableReason ? test.skip : test;
const nativeProp = nativeUnavailableReason ? testProp.skip : testProp;

test('the default backend is native exactly when the addon loaded', (t) => {
  t.is(codecBackend, nativeLoad.ok ? 'native' : 'typescript');
  if (process.env.SLOTFS_CODEC === 'ts') t.is(codecBackend, 'typescript');
});

// Each run is checked with the SIMD loop on and off, so both C loops are compared.
const simdModes = (): boolean[] =>
  nativeLoad.ok && nativeLoad.addon.simdKind() !== 'scalar' ? [true, false] : [false];

function withSimd<T>(enable: boolean, fn: () => T): T {
  if (!nativeLoad.ok) throw new Error('native addon missing');
  const before = nativeLoad.addon.simd();
  nativeLoad.addon.simd(enable);
  try {
    return fn();
  } finally {
    nativeLoad.addon.simd(before);
  }
}

nativeProp(
  title('native and TypeScript encode and decode to identical bytes'),
  [
    fc.integer({ min: 1, max: 40 }).chain((k) =>
      fc.record({
        k: fc.constant(k),
        m: fc.integer({ min: k, max: Math.min(256, k + 40) }),
        // lengths around the 32/64-byte SIMD steps and the tails after them
        length: fc.oneof(fc.integer({ min: 0, max: 200 }), fc.integer({ min: 8000, max: 9000 })),
        seed: fc.integer(),
      }),
    ),
  ],
  (t, { k, m, length, seed }) => {
    const blocks = randomBlocks(k, length, seed);
    const ts = codecWith('typescript');
    const expected = ts.encode(k, m, blocks);
    const chosen = Array.from({ length: k }, (_, i) => m - 1 - i); // secondaries first
    for (const simd of simdModes()) {
      withSimd(simd, () => {
        const native = codecWith('native');
        const shares = native.encode(k, m, blocks);
        t.is(firstDifference(shares, expected), -1, `encode, simd=${simd}`);
        const decoded = native.decode(
          k,
          m,
          chosen.map((n) => shares[n]),
          chosen,
        );
        t.is(firstDifference(decoded, blocks), -1, `decode, simd=${simd}`);
      });
    }
  },
  { numRuns: 40 },
);

nativeTest(title('every coefficient 0…255 gives the same products in C and TypeScript'), (t) => {
  if (!nativeLoad.ok) return t.fail();
  const src = Uint8Array.from({ length: 300 }, (_, i) => (i * 37 + 11) & 255);
  const coeffs = Uint8Array.from({ length: 256 }, (_, c) => c);
  const outputs = () => Array.from({ length: 256 }, () => new Uint8Array(src.length));
  const expected = outputs();
  typescriptKernel.mulMatrix(coeffs, [src], expected, src.length);
  for (const simd of simdModes()) {
    const got = outputs();
    withSimd(
      simd,
      () => nativeLoad.ok && nativeLoad.addon.mulMatrix(coeffs, [src], got, src.length),
    );
    t.is(firstDifference(got, expected), -1, `simd=${simd}`);
  }
  // sanity: the table is not trivially zero
  t.deepEqual([...expected[2].subarray(0, 3)], [22, 96, 170]);
  t.is(encodingMatrix(1, 2)[1], 1);
});

nativeTest(title('the C kernel rejects arguments that would overrun memory'), (t) => {
  if (!nativeLoad.ok) return t.fail();
  const { mulMatrix } = nativeLoad.addon;
  const a = new Uint8Array(8);
  t.throws(() => mulMatrix(new Uint8Array(1), [a], [new Uint8Array(4)], 8), {
    instanceOf: RangeError,
  });
  t.throws(() => mulMatrix(new Uint8Array(0), [a], [new Uint8Array(8)], 8), {
    instanceOf: RangeError,
  });
  t.throws(() => mulMatrix(new Uint8Array(1), [new Uint16Array(8) as never], [a], 8), {
    instanceOf: TypeError,
  });
  t.throws(() => mulMatrix(new Uint8Array(1), [a], [a], -1), { instanceOf: TypeError });
  t.throws(() => mulMatrix(new Uint8Array(1), [a], [a], NaN), { instanceOf: TypeError });
});

/** Deterministic pseudo-random blocks (xorshift32), so a failure can be replayed. */
function randomBlocks(k: number, length: number, seed: number): Uint8Array[] {
  let x = seed | 1;
  return Array.from({ length: k }, () =>
    Uint8Array.from({ length }, () => {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      return x & 255;
    }),
  );
}

/** Index of the first array that differs (ava's deepEqual is slow on large byte arrays). */
function firstDifference(a: Uint8Array[], b: Uint8Array[]): number {
  if (a.length !== b.length) return Math.min(a.length, b.length);
  return a.findIndex((x, i) => !equalBytes(x, b[i]));
}
