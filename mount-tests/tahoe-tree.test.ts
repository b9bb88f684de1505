// A directory tree made by Tahoe-LAFS (src/chk/vectors: SDMF directories holding CHK, LIT
// and MDMF files, entries without `size`) and a DIR2-MDMF directory (src/mdmf/vectors),
// their shares put on the grid as Tahoe's servers held them, linked into a real mount: it
// lists with the right sizes, copies out byte for byte with cp -r, and reading it writes
// nothing back to Tahoe's directories.
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseCap, type ImmutableCap } from '../src/caps/index.js';
import { writeEnabler } from '../src/crypto/derive.js';
import { HttpStorageClient } from '../src/grid/http-client.js';
import { readImmutable } from '../src/immutable/index.js';
import {
  MountProcess,
  fsyncCommand,
  gridSuite,
  run,
  sh,
  slotfs,
  writeClientConfig,
} from './harness.js';

const CHK_VECTORS = join(import.meta.dirname, '..', 'src', 'chk', 'vectors');
const MDMF_VECTORS = join(import.meta.dirname, '..', 'src', 'mdmf', 'vectors');

interface Entry {
  cap: string;
  shares: { shnum: number }[];
}

let m: MountProcess | undefined;
const suite = gridSuite('slotfs-tahoe-tree-', async () => {
  await m?.stop().catch(() => undefined);
});
const { test, mtest } = suite;
let mnt: string;
let clients: HttpStorageClient[] = [];
let chk: Record<string, Entry>;
let mdmf: Record<string, Entry>;
let backup: Record<string, Entry>;

const rand = (n: number) => new Uint8Array(randomBytes(n));

/** Puts every share of vector `name` on server `shnum` of the grid, as Tahoe stored it. */
async function place(dir: string, manifest: Record<string, Entry>, name: string) {
  const cap = parseCap(manifest[name].cap);
  for (const { shnum } of manifest[name].shares) {
    const data = new Uint8Array(await readFile(join(dir, `${name}.sh${shnum}.share`)));
    const server = clients[shnum];
    if (cap.kind === 'immutable') {
      const up = {
        uploadSecret: rand(32),
        leaseRenewSecret: rand(32),
        leaseCancelSecret: rand(32),
      };
      await server.allocateBuckets(cap.storageIndex, up, [shnum], data.length);
      await server.writeImmutableShare(cap.storageIndex, shnum, up.uploadSecret, 0, data);
    } else if (cap.kind === 'ssk-write') {
      const secrets = {
        writeEnabler: writeEnabler(cap.writekey, server.serverId),
        leaseRenewSecret: rand(32),
        leaseCancelSecret: rand(32),
      };
      const write = { test: [], write: [{ offset: 0, data }], newLength: null };
      const res = await server.readTestWrite(
        cap.storageIndex,
        secrets,
        new Map([[shnum, write]]),
        [],
      );
      if (!res.success) throw new Error(`could not place ${name} share ${shnum}`);
    }
  }
}

test.serial.before(async () => {
  if (suite.unavailable) return;
  const { base, serversFile, grid } = suite;
  clients = grid.servers.map((s) => new HttpStorageClient(s.entry));
  chk = JSON.parse(await readFile(join(CHK_VECTORS, 'manifest.json'), 'utf8')) as Record<
    string,
    Entry
  >;
  mdmf = JSON.parse(await readFile(join(MDMF_VECTORS, 'manifest.json'), 'utf8')) as Record<
    string,
    Entry
  >;
  for (const name of ['tree', 'tree.sub', 'tree.small', 'tree.big', 'tree.mdmf', 'tree.sub.inner'])
    await place(CHK_VECTORS, chk, name);
  for (const name of ['dir-mdmf', 'dir-mdmf.a']) await place(MDMF_VECTORS, mdmf, name);
  backup = JSON.parse(await readFile(join(CHK_VECTORS, 'backup-manifest.json'), 'utf8')) as Record<
    string,
    Entry
  >;
  for (const name of ['backup', 'backup.a', 'backup.sub', 'backup.sub.c'])
    await place(CHK_VECTORS, backup, name);
  const client = join(base, 'client');
  // New files in Tahoe's folders must stay readable by Tahoe: the tahoe (RSA SDMF) format.
  await writeClientConfig({ dir: client, serversFile, format: 'tahoe' });
  mnt = join(base, 'mnt');
  m = await MountProcess.start(mnt, client);
});

test.serial.after.always(async () => {
  await Promise.all(clients.map((c) => c.close()));
});

/** The bytes of every share of a mutable vector as the servers hold them now. */
async function sharesNow(name: string): Promise<string[]> {
  const cap = parseCap(chk[name].cap);
  if (cap.kind !== 'ssk-write') throw new Error('mutable vector expected');
  return Promise.all(
    chk[name].shares.map(async ({ shnum }) =>
      Buffer.from(
        (await clients[shnum].readShare(cap.storageIndex, shnum, 0, 1 << 20)) ?? [],
      ).toString('hex'),
    ),
  );
}

mtest('a linked Tahoe tree lists with sizes and copies out byte for byte', async (t) => {
  const before = await sharesNow('tree');
  const linked = await slotfs(['link', join(mnt, 'tahoe'), chk.tree.cap]);
  t.is(linked.code, 0, linked.stderr);
  const listing = await run('stat -c "%s %n" tahoe/* tahoe/sub/* | sort -k2', mnt);
  t.is(
    listing,
    [
      '300000 tahoe/big.bin',
      '0 tahoe/empty',
      '40 tahoe/lit.txt',
      '1000 tahoe/moved.txt',
      '2000 tahoe/notes.mdmf',
      '4096 tahoe/sub',
      '5000 tahoe/sub/inner.txt',
    ].join('\n') + '\n',
  );
  const out = join(suite.base, 'copy');
  await run(`cp -r tahoe ${JSON.stringify(out)}`, mnt);
  const expected: Record<string, string> = {
    'big.bin': 'tree.big',
    empty: 'tree.empty',
    'lit.txt': 'tree.lit',
    'moved.txt': 'tree.small',
    'notes.mdmf': 'tree.mdmf',
    'sub/inner.txt': 'tree.sub.inner',
  };
  for (const [path, vector] of Object.entries(expected)) {
    const got = await readFile(join(out, path));
    const want = await readFile(join(CHK_VECTORS, `${vector}.plain`));
    t.true(got.equals(want), `${path} differs from the Tahoe plaintext`);
  }
  // Reading wrote nothing back: Tahoe's directory still holds Tahoe's shares.
  t.deepEqual(await sharesNow('tree'), before);
});

mtest('writing to a Tahoe immutable file replaces it with a new mutable file', async (t) => {
  const chkCap = chk['tree.small'].cap;
  t.is((await slotfs(['cap', join(mnt, 'tahoe/moved.txt')])).stdout.trim(), chkCap);
  await run(`echo extra >> tahoe/moved.txt; ${fsyncCommand('tahoe/moved.txt')}`, mnt);
  const plain = await readFile(join(CHK_VECTORS, 'tree.small.plain'));
  const now = await readFile(join(mnt, 'tahoe', 'moved.txt'));
  t.true(now.equals(Buffer.concat([plain, Buffer.from('extra\n')])));
  const cap = (await slotfs(['cap', join(mnt, 'tahoe/moved.txt')])).stdout.trim();
  t.regex(cap, /^URI:SSK:/);
  // Truncating open (an editor's save) starts from nothing; the LIT file becomes mutable too.
  await run(`printf new > tahoe/lit.txt; ${fsyncCommand('tahoe/lit.txt')}`, mnt);
  t.is(await run('cat tahoe/lit.txt', mnt), 'new');
  // The immutable file itself is untouched on the grid.
  const old = await readImmutable(parseCap(chkCap) as ImmutableCap, clients);
  t.true(Buffer.from(old.plaintext).equals(plain));
});

mtest('a Tahoe DIR2-MDMF directory lists, reads and takes new files, staying MDMF', async (t) => {
  const linked = await slotfs(['link', join(mnt, 'mdmfdir'), mdmf['dir-mdmf'].cap]);
  t.is(linked.code, 0, linked.stderr);
  t.is(
    await run('stat -c "%s %n" mdmfdir/* | sort -k2', mnt),
    '700 mdmfdir/a.txt\n30 mdmfdir/b.txt\n',
  );
  const a = await readFile(join(mnt, 'mdmfdir', 'a.txt'));
  t.true(a.equals(await readFile(join(MDMF_VECTORS, 'dir-mdmf.a.plain'))));
  const b = await readFile(join(mnt, 'mdmfdir', 'b.txt'));
  t.true(b.equals(await readFile(join(MDMF_VECTORS, 'dir-mdmf.b.plain'))));
  await run(`echo new > mdmfdir/new.txt; ${fsyncCommand('mdmfdir/new.txt')}`, mnt);
  await run('echo more >> mdmfdir/a.txt', mnt);
  await run(`${fsyncCommand('mdmfdir/a.txt')}`, mnt);
  t.is(await run('cat mdmfdir/new.txt', mnt), 'new\n');
  // The directory is still the same MDMF directory, now at a higher seqnum.
  const dirCap = parseCap(mdmf['dir-mdmf'].cap);
  if (dirCap.kind !== 'ssk-write') return t.fail();
  const share = await clients[0].readShare(dirCap.storageIndex, 0, 0, 9);
  t.is(share?.[0], 1, 'MDMF version byte');
  t.true(Buffer.from(share!).readBigUInt64BE(1) > 1n);
  t.is((await slotfs(['cap', join(mnt, 'mdmfdir')])).stdout.trim(), mdmf['dir-mdmf'].cap);
});

mtest(
  'a tahoe backup snapshot (immutable folders) lists, copies out and refuses changes',
  async (t) => {
    const linked = await slotfs(['link', join(mnt, 'snapshot'), backup.backup.cap]);
    t.is(linked.code, 0, linked.stderr);
    t.is(
      await run('find snapshot | sort | while read -r p; do stat -c "%F %s %n" "$p"; done', mnt),
      [
        'directory 4096 snapshot',
        'regular file 3000 snapshot/a.txt',
        'regular file 30 snapshot/b.txt',
        'directory 4096 snapshot/sub',
        'regular file 70000 snapshot/sub/c.bin',
        'directory 4096 snapshot/sub/empty-dir',
      ].join('\n') + '\n',
    );
    const out = join(suite.base, 'snapshot-copy');
    await run(`cp -r snapshot ${JSON.stringify(out)}`, mnt);
    for (const [path, vector] of [
      ['a.txt', 'backup.a'],
      ['b.txt', 'backup.b'],
      ['sub/c.bin', 'backup.sub.c'],
    ]) {
      const got = await readFile(join(out, path));
      t.true(got.equals(await readFile(join(CHK_VECTORS, `${vector}.plain`))), path);
    }
    const refused = await sh('touch snapshot/new.txt', mnt);
    t.regex(refused.stderr, /Read-only file system/);
  },
);
