import test from 'ava';
import { EXP, gfInv, gfMul, LOG, MUL_TABLE, mulRow } from './gf256.js';
import { slowMul } from './test-support/reference.js';

test('the product table matches shift-and-add multiplication modulo 0x11D', (t) => {
  let mismatches = 0;
  for (let a = 0; a < 256; a++) {
    for (let b = 0; b < 256; b++) if (gfMul(a, b) !== slowMul(a, b)) mismatches++;
  }
  t.is(mismatches, 0);
  t.is(MUL_TABLE.length, 65536);
  t.deepEqual([...mulRow(3).subarray(0, 4)], [0, 3, 6, 5]);
});

test('α = 2 generates the multiplicative group (0x11D is primitive)', (t) => {
  const seen = new Set<number>();
  for (let i = 0; i < 255; i++) seen.add(EXP[i]);
  t.is(seen.size, 255);
  t.false(seen.has(0));
  t.is(slowMul(EXP[254], 2), 1);
  for (let a = 1; a < 256; a++) t.is(EXP[LOG[a]], a);
});

test('every non-zero element has an inverse; 0 has none', (t) => {
  for (let a = 1; a < 256; a++) t.is(gfMul(a, gfInv(a)), 1);
  t.throws(() => gfInv(0), { instanceOf: RangeError });
});
