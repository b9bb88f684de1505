import test from 'ava';
import { packChildren, unpackChildren } from './format.js';
import { MAX_SYMLINK_TARGET_BYTES, symlinkChild, symlinkTargetOf } from './symlink.js';

test('a symlink is a literal cap holding the target, marked in the metadata', (t) => {
  const link = symlinkChild('../docs/README.md');
  t.true(link.caps.roCap.startsWith('URI:LIT:'));
  t.is(link.caps.rwCap, undefined);
  t.deepEqual(link.metadata, { slotfs: { type: 'symlink' } });
  const target = symlinkTargetOf({ roCap: link.caps.roCap, metadata: link.metadata });
  t.is(Buffer.from(target!).toString(), '../docs/README.md');
});

test('the entry survives packing into a dirnode (as a Tahoe client reads it)', (t) => {
  const writeKey = new Uint8Array(16).fill(7);
  const link = symlinkChild(new Uint8Array([0xff, 0x2f, 0x61])); // not UTF-8: bytes kept
  const packed = packChildren(writeKey, [
    { name: 'l', roCap: link.caps.roCap, metadata: { slotfs: { type: 'symlink' } } },
  ]);
  const [child] = unpackChildren(writeKey, packed);
  t.is(child.rwCap, undefined);
  t.is(child.roCap, link.caps.roCap);
  t.deepEqual(
    symlinkTargetOf({ roCap: child.roCap, metadata: child.metadata }),
    new Uint8Array([0xff, 0x2f, 0x61]),
  );
});

test('a literal cap without the marker, or a marker on another cap, is no symlink', (t) => {
  const link = symlinkChild('x');
  t.is(symlinkTargetOf({ roCap: link.caps.roCap, metadata: {} }), undefined);
  t.is(symlinkTargetOf({ roCap: 'URI:SSK-RO:aaaa:bbbb', metadata: link.metadata }), undefined);
  t.is(symlinkTargetOf({ roCap: 'URI:LIT:!!', metadata: link.metadata }), undefined);
});

test('targets: empty, NUL or over PATH_MAX are refused with ERR_DIR_SYMLINK_TARGET', (t) => {
  t.notThrows(() => symlinkChild('a'.repeat(MAX_SYMLINK_TARGET_BYTES)));
  for (const bad of ['', 'a\0b', 'a'.repeat(MAX_SYMLINK_TARGET_BYTES + 1)]) {
    t.throws(() => symlinkChild(bad), { code: 'ERR_DIR_SYMLINK_TARGET' });
  }
});
