import test from 'ava';
import { FsError } from './errno.js';
import { fromFusePath, toFuseName } from './fuse-path.js';

const latin1 = (bytes: number[]) => Buffer.from(bytes).toString('latin1');

test('raw paths: UTF-8 bytes decode to the name, and readdir names encode back to the same bytes', (t) => {
  const euro = latin1([0x2f, 0xe2, 0x82, 0xac]); // "/€"
  t.is(fromFusePath(euro, true), '/€');
  t.is(toFuseName('€', true), latin1([0xe2, 0x82, 0xac]));
  t.is(fromFusePath('/plain/ascii', true), '/plain/ascii');
  t.is(toFuseName('ascii', true), 'ascii');
  // NFD stays NFD.
  t.is(fromFusePath(Buffer.from('/cafe\u0301').toString('latin1'), true), '/cafe\u0301');
});

test('raw paths: bytes that are not UTF-8 are refused with EILSEQ, naming the bytes', (t) => {
  for (const bytes of [[0x78, 0xe9], [0x78, 0xe8], [0xff], [0xc3]]) {
    const err = t.throws(() => fromFusePath(latin1([0x2f, ...bytes]), true), {
      instanceOf: FsError,
    });
    t.is(err.errno, 'EILSEQ');
    t.regex(err.message, /not valid UTF-8.*nothing was created or changed/);
  }
  t.regex(t.throws(() => fromFusePath(latin1([0x2f, 0x78, 0xe9]), true)).message, /"\/x\\xe9"/);
});

test('without raw paths, U+FFFD (what invalid bytes arrive as) is refused', (t) => {
  t.is(fromFusePath('/caf\u00e9', false), '/caf\u00e9');
  const err = t.throws(() => fromFusePath('/x\ufffd', false), { instanceOf: FsError });
  t.is(err.errno, 'EILSEQ');
  t.is(toFuseName('caf\u00e9', false), 'caf\u00e9');
});
