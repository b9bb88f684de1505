// Tahoe's immutable directories, as `tahoe backup` stores a snapshot (src/chk/vectors,
// backup*): listed through DirectoryClient from servers holding Tahoe's shares; every
// change refused.
import test from 'ava';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parseCap } from '../caps/index.js';
import { toBase32 } from '../encoding/base32.js';
import { MemoryStorageClient, MemoryStorageServer } from '../grid/test-support/memory-client.js';
import { MutableClient } from '../mutable/mutable-client.js';
import { DirectoryClient } from './directory.js';

const DIR = path.join(import.meta.dirname, '..', 'chk', 'vectors');
const manifest = JSON.parse(readFileSync(path.join(DIR, 'backup-manifest.json'), 'utf8')) as Record<
  string,
  { cap: string; shares: { shnum: number }[] }
>;

function setup() {
  const servers = [0, 1, 2, 3, 4].map(
    () => new MemoryStorageServer(new Uint8Array(randomBytes(20))),
  );
  for (const [name, entry] of Object.entries(manifest)) {
    const cap = parseCap(entry.cap);
    if (cap.kind !== 'immutable') continue;
    for (const { shnum } of entry.shares) {
      const data = new Uint8Array(readFileSync(path.join(DIR, `${name}.sh${shnum}.share`)));
      const si = toBase32(cap.storageIndex);
      const held = servers[shnum].immutable.get(si) ?? new Map<number, Uint8Array>();
      held.set(shnum, data);
      servers[shnum].immutable.set(si, held);
    }
  }
  const client = new MutableClient({
    servers: servers.map((s, i) => new MemoryStorageClient(s, { name: `m${i}` })),
    leaseSecret: new Uint8Array(32),
  });
  return { client, dirs: new DirectoryClient(client) };
}

test('a tahoe backup snapshot lists, its files read, and it cannot be changed', async (t) => {
  const { client, dirs } = setup();
  const root = await dirs.list(manifest.backup.cap);
  t.deepEqual([...root.keys()].sort(), ['a.txt', 'b.txt', 'sub']);
  t.is(root.get('a.txt')?.roCap, manifest['backup.a'].cap);
  t.is(root.get('a.txt')?.rwCap, undefined);
  t.true(root.get('sub')?.isDirectory);
  const a = await client.retrieve(root.get('a.txt')!.roCap);
  t.deepEqual(a.plaintext, new Uint8Array(readFileSync(path.join(DIR, 'backup.a.plain'))));
  const sub = await dirs.list(root.get('sub')!.roCap);
  t.deepEqual([...sub.keys()].sort(), ['c.bin', 'empty-dir']);
  t.regex(sub.get('empty-dir')!.roCap, /^URI:DIR2-LIT:/);
  t.is((await dirs.list(sub.get('empty-dir')!.roCap)).size, 0);
  const refused = await t.throwsAsync(dirs.remove(manifest.backup.cap, 'a.txt'));
  t.is((refused as { code?: string }).code, 'ERR_DIR_READ_ONLY');
});
