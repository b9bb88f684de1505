// ShareStore.readShareStarts, what read-many answers with: the start of many shares' data,
// each read in one step when its slot is quiet, or after the write under way on it.
import test from 'ava';
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { toBase32 } from '../encoding/base32.js';
import { ContainerFormatError } from './container.js';
import { ImmutableStore } from './immutable-store.js';
import { ShareStore } from './store.js';
import { secretsFor, tw } from './test-support/raw-client.js';

const S = secretsFor(3);
const newSi = () => toBase32(randomBytes(16));
const bytes = (text: string) => new TextEncoder().encode(text);
const text = (b: Uint8Array | null) => (b ? Buffer.from(b).toString('latin1') : null);

async function store(t: { teardown(fn: () => Promise<void>): void }) {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'slotfs-starts-'));
  t.teardown(() => fs.rm(dir, { recursive: true, force: true }));
  const shares = new ShareStore(dir, { nodeId: new Uint8Array(20).fill(1), maxShareSize: 1 << 20 });
  await shares.init();
  return shares;
}

function write(shares: ShareStore, si: string, shnum: number, data: string) {
  return shares.readTestWrite(si, tw([[shnum, { write: [[0, bytes(data)]] }]]), S);
}

test('the start of each share, shorter ones whole, absent ones null, in the order asked', async (t) => {
  const shares = await store(t);
  const [a, b] = [newSi(), newSi()];
  await write(shares, a, 0, 'checkstring of a, and more');
  await write(shares, a, 4, 'a4');
  await write(shares, b, 1, 'checkstring of b');
  const got = await shares.readShareStarts(
    [
      { si: b, shnum: 1 },
      { si: a, shnum: 0 },
      { si: a, shnum: 4 },
      { si: a, shnum: 9 },
      { si: newSi(), shnum: 0 },
    ],
    16,
  );
  t.deepEqual(got.map(text), ['checkstring of b', 'checkstring of a', 'a4', null, null]);
  // The same as reading each share on its own.
  t.deepEqual(got[1], (await shares.readShare(a, 0, 0, 16))!.data);
});

test('thousands of reads in one request, answered across chunks', async (t) => {
  const shares = await store(t);
  const sis = Array.from({ length: 700 }, () => newSi());
  for (const [i, si] of sis.entries()) await write(shares, si, 0, `share ${i}`);
  const got = await shares.readShareStarts(
    sis.map((si) => ({ si, shnum: 0 })),
    32,
  );
  t.deepEqual(
    got.map(text),
    sis.map((_, i) => `share ${i}`),
  );
});

test('a share whose slot is being written is read after that write, not halfway', async (t) => {
  const shares = await store(t);
  const si = newSi();
  await write(shares, si, 0, 'version 1');
  const writing = write(shares, si, 0, 'version 2');
  const got = await shares.readShareStarts([{ si, shnum: 0 }], 32);
  await writing;
  t.is(text(got[0]), 'version 2');
});

test('an immutable share is not a mutable one: null', async (t) => {
  const shares = await store(t);
  const immutable = new ImmutableStore(shares, { maxShareSize: 100 });
  await immutable.init();
  t.teardown(() => immutable.close());
  const si = newSi();
  const secrets = { upload: randomBytes(32), renew: randomBytes(32), cancel: randomBytes(32) };
  await immutable.allocate(si, [0], 10, 10_000, secrets);
  await immutable.write(si, 0, secrets.upload, 0, new Uint8Array(10).fill(5));
  t.deepEqual(await shares.readShareStarts([{ si, shnum: 0 }], 8), [null]);
});

test('a share file cut short of its recorded length is refused, naming it', async (t) => {
  const shares = await store(t);
  const si = newSi();
  await write(shares, si, 2, 'x'.repeat(64));
  const file = path.join(shares.bucketDir(si), '2');
  const { size } = await fs.stat(file);
  await fs.truncate(file, size - 60);
  const error = await t.throwsAsync(shares.readShareStarts([{ si, shnum: 2 }], 32), {
    instanceOf: ContainerFormatError,
  });
  t.regex(error!.message, new RegExp(`share ${si}/2: file ends before its recorded data length`));
});
