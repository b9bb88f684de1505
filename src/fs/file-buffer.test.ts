import test from 'ava';
import { fc, testProp } from '@fast-check/ava';
import { FileBuffer } from './file-buffer.js';

test('reads what was written; gaps read as zeros; reads stop at the end', (t) => {
  const b = new FileBuffer(new TextEncoder().encode('abc'));
  b.write(5, new TextEncoder().encode('xy'));
  t.is(b.size, 7);
  const out = new Uint8Array(10);
  t.is(b.readInto(out, 0, 10), 7);
  t.deepEqual([...out.subarray(0, 7)], [97, 98, 99, 0, 0, 120, 121]);
  t.is(b.readInto(out, 7, 10), 0);
});

test('truncate shrinks, and growing again shows zeros, not old bytes', (t) => {
  const b = new FileBuffer(new TextEncoder().encode('secret'));
  b.truncate(2);
  b.truncate(6);
  t.deepEqual([...b.snapshot()], [115, 101, 0, 0, 0, 0]);
});

test('snapshot is a copy: later writes do not change it', (t) => {
  const b = new FileBuffer();
  b.write(0, new Uint8Array([1, 2, 3]));
  const snap = b.snapshot();
  b.write(0, new Uint8Array([9]));
  t.deepEqual([...snap], [1, 2, 3]);
});

testProp(
  'behaves like a plain byte array under writes and truncates',
  [
    fc.array(
      fc.oneof(
        fc.tuple(fc.constant('w' as const), fc.nat(3000), fc.uint8Array({ maxLength: 300 })),
        fc.tuple(fc.constant('t' as const), fc.nat(4000), fc.constant(new Uint8Array(0))),
      ),
      { maxLength: 20 },
    ),
  ],
  (t, ops) => {
    const b = new FileBuffer();
    let model = new Uint8Array(0);
    for (const [kind, at, data] of ops) {
      if (kind === 'w') {
        const next = new Uint8Array(Math.max(model.length, at + data.length));
        next.set(model);
        next.set(data, at);
        model = next;
        b.write(at, data);
      } else {
        const next = new Uint8Array(at);
        next.set(model.subarray(0, at));
        model = next;
        b.truncate(at);
      }
    }
    t.deepEqual(b.snapshot(), model);
  },
);
