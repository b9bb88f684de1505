import test from 'ava';
import { readFile } from 'node:fs/promises';
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

test("Tahoe's own literal child (a small file in a Tahoe-written directory) is no symlink", async (t) => {
  // Listing by Tahoe-LAFS 1.20's web API of a directory it wrote (vectors/README.md).
  const url = new URL('./vectors/grid-dir-listing.json', import.meta.url);
  const listing = JSON.parse(await readFile(url, 'utf8')) as [
    string,
    { children: Record<string, [string, { ro_uri: string; metadata: Record<string, unknown> }]> },
  ];
  const [kind, hello] = listing[1].children['hello.txt'];
  t.is(kind, 'filenode');
  t.true(hello.ro_uri.startsWith('URI:LIT:'));
  t.is(symlinkTargetOf({ roCap: hello.ro_uri, metadata: hello.metadata }), undefined);
  // The same entry with the marker added is a link to the file's bytes.
  const marked = {
    roCap: hello.ro_uri,
    metadata: { ...hello.metadata, slotfs: { type: 'symlink' } },
  };
  t.is(Buffer.from(symlinkTargetOf(marked)!).length, 22);
});
