// DirectoryClient against a grid of real server processes (5 servers, 2-of-5 encoding), plus
// the re-application rules checked with a scripted MutableClient stand-in.
import test, { type ExecutionContext } from 'ava';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ClientCache } from '../cache/client-cache.js';
import {
  formatCap,
  leaseSecretsForCap,
  parseCap,
  readCapOf,
  requireWriteCap,
  writeEnablerFor,
} from '../caps/index.js';
import { KeyPool } from '../crypto/keypool.js';
import type { HttpStorageClient } from '../grid/http-client.js';
import { MutableClient, newLeaseSecret } from '../mutable/mutable-client.js';
import { TestGrid } from '../mutable/test-support/test-grid.js';
import {
  childCapsOf,
  DirectoryClient,
  checkChildName,
  type ChildCaps,
  type DirEntry,
} from './directory.js';
import { DirectoryError, type DirectoryErrorCode, type DirNameProblem } from './errors.js';
import { packChildren, unpackChildren } from './format.js';

let grid: TestGrid;
const keys = new KeyPool({ size: 4, concurrency: 2 });
const cleanups: Array<() => Promise<void>> = [];

test.before(async () => {
  grid = await TestGrid.start(5);
});
test.after.always(async () => {
  for (const c of cleanups.reverse()) await c();
  await keys.close();
  await grid?.stop();
});

interface Harness {
  client: MutableClient;
  dirs: DirectoryClient;
  servers: HttpStorageClient[];
}

/** A client with its own cache (as a separate machine would have). */
async function newClient(batchWindowMs?: number): Promise<Harness> {
  const cacheDir = await mkdtemp(join(tmpdir(), 'slotfs-dirclient-'));
  const cache = await ClientCache.open(join(cacheDir, 'cache'), { warn: () => undefined });
  const servers = grid.clients();
  const client = new MutableClient({
    servers,
    leaseSecret: newLeaseSecret(),
    cache,
    keys,
    k: 2,
    N: 5,
    happy: 4,
  });
  await client.connect();
  cleanups.push(async () => {
    await Promise.allSettled(servers.map((s) => s.close()));
    await cache.close().catch(() => undefined);
    await rm(cacheDir, { recursive: true, force: true });
  });
  return { client, dirs: new DirectoryClient(client, { batchWindowMs }), servers };
}

let shared: Harness | undefined;
async function one(): Promise<Harness> {
  shared ??= await newClient();
  return shared;
}

const now = () => Date.now() / 1000;
const readCap = (cap: string) => formatCap(readCapOf(requireWriteCap(parseCap(cap))));

async function newFile(h: Harness, text: string): Promise<ChildCaps> {
  const { cap } = await h.client.create(new TextEncoder().encode(text));
  return childCapsOf(cap);
}

async function rejectsWith(
  t: ExecutionContext,
  promise: Promise<unknown>,
  code: DirectoryErrorCode,
  nameProblem?: DirNameProblem,
): Promise<void> {
  const error = await t.throwsAsync(promise, { instanceOf: DirectoryError });
  t.is(error?.code, code);
  if (nameProblem) t.is(error?.nameProblem, nameProblem);
}

test.serial('a new directory is empty; add, list and lookup with caps and metadata', async (t) => {
  const h = await one();
  const dir = await h.dirs.createDirectory();
  t.regex(dir, /^URI:DIR2-ED25519:[a-z2-7]{52}$/);
  t.deepEqual([...(await h.dirs.list(dir)).keys()], []);

  const file = await newFile(h, 'hello');
  const sub = childCapsOf(await h.dirs.createDirectory());
  const before = now();
  await h.dirs.add(dir, 'hello.txt', file, { mtime: 1700000000.25, size: 5, mode: 0o644 });
  await h.dirs.add(dir, 'sub', sub);
  const after = now();

  const listing = await h.dirs.list(dir);
  t.deepEqual([...listing.keys()].sort(), ['hello.txt', 'sub']);
  const hello = listing.get('hello.txt')!;
  t.is(hello.rwCap, file.rwCap);
  t.is(hello.roCap, file.roCap);
  t.false(hello.isDirectory);
  t.is(hello.metadata.mtime, 1700000000.25);
  t.is(hello.metadata.size, 5);
  t.is(hello.metadata.mode, 0o644);
  const { linkcrtime, linkmotime } = hello.metadata.tahoe!;
  t.true(linkcrtime >= before - 0.01 && linkcrtime <= after + 0.01);
  t.is(linkmotime, linkcrtime);
  t.true(listing.get('sub')!.isDirectory);
  t.deepEqual(await h.dirs.lookup(dir, 'hello.txt'), hello);
  t.is(await h.dirs.lookup(dir, 'absent'), undefined);

  // Another client (empty cache) sees the same; through the read cap, no write caps.
  const other = await newClient();
  t.deepEqual(await other.dirs.list(dir), listing);
  const readOnly = await other.dirs.list(readCap(dir));
  t.is(readOnly.get('hello.txt')!.rwCap, undefined);
  t.is(readOnly.get('hello.txt')!.roCap, file.roCap);
  t.true(readOnly.get('sub')!.isDirectory);
  t.is(readOnly.get('sub')!.rwCap, undefined);
});

test.serial('names are NFC-normalised; 255 UTF-8 bytes is the limit', async (t) => {
  const h = await one();
  const dir = await h.dirs.createDirectory();
  const file = await newFile(h, 'x');
  await h.dirs.add(dir, 'cafe\u0301', file); // decomposed é
  t.deepEqual([...(await h.dirs.list(dir)).keys()], ['caf\u00e9']);
  t.is((await h.dirs.lookup(dir, 'caf\u00e9'))?.roCap, file.roCap);
  t.is((await h.dirs.lookup(dir, 'cafe\u0301'))?.roCap, file.roCap);
  const longest = 'é'.repeat(127) + 'a'; // 255 bytes
  await h.dirs.add(dir, longest, file);
  t.truthy(await h.dirs.lookup(dir, longest));
  t.is(checkChildName('e\u0301'), '\u00e9');
});

test.serial(
  'names kept exact: NFC and NFD forms are two entries, each found only as given',
  async (t) => {
    const h = await one();
    const exact = new DirectoryClient(h.client, { names: 'exact' });
    const dir = await exact.createDirectory();
    const nfc = await newFile(h, 'nfc');
    const nfd = await newFile(h, 'nfd');
    await exact.add(dir, 'caf\u00e9', nfc, {}, { mustNotExist: true });
    await exact.add(dir, 'cafe\u0301', nfd, {}, { mustNotExist: true });
    t.deepEqual([...(await exact.list(dir)).keys()].sort(), ['cafe\u0301', 'caf\u00e9']);
    t.is((await exact.lookup(dir, 'caf\u00e9'))?.roCap, nfc.roCap);
    t.is((await exact.lookup(dir, 'cafe\u0301'))?.roCap, nfd.roCap);
    await exact.remove(dir, 'cafe\u0301');
    t.deepEqual([...(await exact.list(dir)).keys()], ['caf\u00e9']);
    t.is(checkChildName('e\u0301', 'exact'), 'e\u0301');
  },
);

test.serial('every bad name is refused with ERR_DIR_NAME and nothing changes', async (t) => {
  const h = await one();
  const dir = await h.dirs.createDirectory();
  const file = await newFile(h, 'x');
  const bad: Array<[string, DirNameProblem]> = [
    ['', 'empty'],
    ['.', 'dot'],
    ['..', 'dot'],
    ['a/b', 'slash'],
    ['a\0b', 'nul'],
    ['é'.repeat(128), 'too-long'],
    ['x\ud800', 'not-unicode'],
  ];
  const seqnum = (await h.client.retrieve(dir)).seqnum;
  for (const [name, problem] of bad) {
    await rejectsWith(t, h.dirs.add(dir, name, file), 'ERR_DIR_NAME', problem);
  }
  await h.dirs.add(dir, 'ok', file);
  await rejectsWith(t, h.dirs.rename(dir, 'ok', 'a/b'), 'ERR_DIR_NAME', 'slash');
  await rejectsWith(t, h.dirs.remove(dir, ''), 'ERR_DIR_NAME', 'empty');
  await rejectsWith(t, h.dirs.lookup(dir, ''), 'ERR_DIR_NAME', 'empty');
  t.is((await h.client.retrieve(dir)).seqnum, seqnum + 1); // only the good add
  t.deepEqual([...(await h.dirs.list(dir)).keys()], ['ok']);
});

test.serial(
  'replace keeps linkcrtime, moves linkmotime, and keeps or replaces metadata',
  async (t) => {
    const h = await one();
    const dir = await h.dirs.createDirectory();
    const a = await newFile(h, 'a');
    const b = await newFile(h, 'b');
    await h.dirs.add(dir, 'f', a, { mtime: 10, size: 1, ext_note: 'kept' });
    const first = (await h.dirs.lookup(dir, 'f'))!;
    await new Promise((r) => setTimeout(r, 20));
    await h.dirs.add(dir, 'f', b); // no metadata: the old keys stay
    const second = (await h.dirs.lookup(dir, 'f'))!;
    t.is(second.roCap, b.roCap);
    t.is(second.rwCap, b.rwCap);
    t.is(second.metadata.tahoe!.linkcrtime, first.metadata.tahoe!.linkcrtime);
    t.true(second.metadata.tahoe!.linkmotime > first.metadata.tahoe!.linkmotime);
    t.is(second.metadata.ext_note, 'kept');
    t.is(second.metadata.mtime, 10);
    // Supplied metadata replaces every key but `tahoe` (which callers cannot set).
    await h.dirs.add(dir, 'f', a, { mtime: 20, tahoe: { linkcrtime: 1, linkmotime: 1 } });
    const third = (await h.dirs.lookup(dir, 'f'))!;
    t.is(third.metadata.mtime, 20);
    t.false('ext_note' in third.metadata);
    t.false('size' in third.metadata);
    t.is(third.metadata.tahoe!.linkcrtime, first.metadata.tahoe!.linkcrtime);
    t.true(third.metadata.tahoe!.linkmotime >= second.metadata.tahoe!.linkmotime);
  },
);

test.serial('add without replace, or with mustNotExist, refuses an existing name', async (t) => {
  const h = await one();
  const dir = await h.dirs.createDirectory();
  const a = await newFile(h, 'a');
  const b = await newFile(h, 'b');
  await h.dirs.add(dir, 'f', a, undefined, { mustNotExist: true });
  const seqnum = (await h.client.retrieve(dir)).seqnum;
  await rejectsWith(
    t,
    h.dirs.add(dir, 'f', b, undefined, { mustNotExist: true }),
    'ERR_DIR_EXISTS',
  );
  await rejectsWith(t, h.dirs.add(dir, 'f', b, undefined, { replace: false }), 'ERR_DIR_EXISTS');
  t.is((await h.dirs.lookup(dir, 'f'))!.roCap, a.roCap);
  t.is((await h.client.retrieve(dir)).seqnum, seqnum, 'a refused change publishes nothing');
});

test.serial(
  'remove returns the entry; an absent name is ERR_DIR_NOT_FOUND unless allowed',
  async (t) => {
    const h = await one();
    const dir = await h.dirs.createDirectory();
    const a = await newFile(h, 'a');
    await h.dirs.add(dir, 'f', a, { size: 1 });
    await h.dirs.add(dir, 'g', a);
    const removed = await h.dirs.remove(dir, 'f');
    t.is(removed?.name, 'f');
    t.is(removed?.rwCap, a.rwCap);
    t.is(removed?.metadata.size, 1);
    t.deepEqual([...(await h.dirs.list(dir)).keys()], ['g']);
    await rejectsWith(t, h.dirs.remove(dir, 'f'), 'ERR_DIR_NOT_FOUND');
    t.is(await h.dirs.remove(dir, 'f', { mustExist: false }), undefined);
    t.deepEqual([...(await h.dirs.list(dir)).keys()], ['g']);
  },
);

test.serial('rename carries caps and metadata, replaces a target, or refuses', async (t) => {
  const h = await one();
  const dir = await h.dirs.createDirectory();
  const a = await newFile(h, 'a');
  const b = await newFile(h, 'b');
  await h.dirs.add(dir, 'a', a, { mtime: 5, mode: 0o600 });
  await h.dirs.add(dir, 'b', b);
  await h.dirs.rename(dir, 'a', 'c');
  let listing = await h.dirs.list(dir);
  t.deepEqual([...listing.keys()].sort(), ['b', 'c']);
  t.is(listing.get('c')!.rwCap, a.rwCap);
  t.is(listing.get('c')!.metadata.mtime, 5);
  t.is(listing.get('c')!.metadata.mode, 0o600);

  // Editor-style save: rename over an existing name; the target keeps its link time.
  const bLink = listing.get('b')!.metadata.tahoe!.linkcrtime;
  await rejectsWith(t, h.dirs.rename(dir, 'c', 'b', { replace: false }), 'ERR_DIR_EXISTS');
  await h.dirs.rename(dir, 'c', 'b');
  listing = await h.dirs.list(dir);
  t.deepEqual([...listing.keys()], ['b']);
  t.is(listing.get('b')!.roCap, a.roCap);
  t.is(listing.get('b')!.metadata.mtime, 5);
  t.is(listing.get('b')!.metadata.tahoe!.linkcrtime, bLink);

  await rejectsWith(t, h.dirs.rename(dir, 'nope', 'x'), 'ERR_DIR_NOT_FOUND');
  await rejectsWith(t, h.dirs.rename(dir, 'nope', 'nope'), 'ERR_DIR_NOT_FOUND');
  const seqnum = (await h.client.retrieve(dir)).seqnum;
  await h.dirs.rename(dir, 'b', 'b'); // POSIX: renaming onto itself does nothing
  t.is((await h.client.retrieve(dir)).seqnum, seqnum);
});

test.serial(
  'setMetadata merges, removes undefined keys, never touches tahoe timestamps but linkmotime',
  async (t) => {
    const h = await one();
    const dir = await h.dirs.createDirectory();
    const a = await newFile(h, 'a');
    await h.dirs.add(dir, 'f', a, { mtime: 1, size: 2, mode: 0o644 });
    const before = (await h.dirs.lookup(dir, 'f'))!;
    await h.dirs.setMetadata(dir, 'f', {
      mtime: 3.5,
      mode: undefined,
      tahoe: { linkcrtime: 0, linkmotime: 0 },
    });
    const after = (await h.dirs.lookup(dir, 'f'))!;
    t.is(after.metadata.mtime, 3.5);
    t.is(after.metadata.size, 2);
    t.false('mode' in after.metadata);
    t.is(after.metadata.tahoe!.linkcrtime, before.metadata.tahoe!.linkcrtime);
    t.true(after.metadata.tahoe!.linkmotime >= before.metadata.tahoe!.linkmotime);
    t.is(after.rwCap, a.rwCap);
    await rejectsWith(t, h.dirs.setMetadata(dir, 'g', { mtime: 1 }), 'ERR_DIR_NOT_FOUND');
  },
);

test.serial(
  'setMetadata with onlyIf applies only while the entry still has that cap and size (a stale correction does not undo a newer change)',
  async (t) => {
    const writer = await one();
    const dir = await writer.dirs.createDirectory();
    const a = await newFile(writer, 'a');
    await writer.dirs.add(dir, 'f', a, { size: 2 });
    // A reader (another client) saw size 2 and corrects it to 5: applies.
    const reader = await newClient();
    t.true(await reader.dirs.setMetadata(dir, 'f', { size: 5 }, { onlyIf: { size: 2 } }));
    t.is((await writer.dirs.lookup(dir, 'f'))!.metadata.size, 5);
    // The writer publishes a newer size; a correction from the old look changes nothing.
    await writer.dirs.setMetadata(dir, 'f', { size: 7 });
    const seqnum = (await writer.client.retrieve(dir)).seqnum;
    t.false(await reader.dirs.setMetadata(dir, 'f', { size: 5 }, { onlyIf: { size: 2 } }));
    t.false(
      await reader.dirs.setMetadata(dir, 'f', { size: 5 }, { onlyIf: { roCap: 'URI:LIT:' } }),
    );
    t.is((await writer.dirs.lookup(dir, 'f'))!.metadata.size, 7);
    t.is((await writer.client.retrieve(dir)).seqnum, seqnum, 'nothing published');
    await reader.dirs.list(dir); // the reader looks again: size 7
    t.true(
      await reader.dirs.setMetadata(dir, 'f', { size: 8 }, { onlyIf: { roCap: a.roCap, size: 7 } }),
    );
    t.is((await writer.dirs.lookup(dir, 'f'))!.metadata.size, 8);
  },
);

test.serial('a read-only cap refuses every change; a file cap is not a directory', async (t) => {
  const h = await one();
  const dir = await h.dirs.createDirectory();
  const a = await newFile(h, 'a');
  await h.dirs.add(dir, 'f', a);
  const ro = readCap(dir);
  const seqnum = (await h.client.retrieve(dir)).seqnum;
  await rejectsWith(t, h.dirs.add(ro, 'g', a), 'ERR_DIR_READ_ONLY');
  await rejectsWith(t, h.dirs.remove(ro, 'f'), 'ERR_DIR_READ_ONLY');
  await rejectsWith(t, h.dirs.rename(ro, 'f', 'g'), 'ERR_DIR_READ_ONLY');
  await rejectsWith(t, h.dirs.setMetadata(ro, 'f', { mtime: 1 }), 'ERR_DIR_READ_ONLY');
  await h.dirs.flush(ro); // nothing queued under a read cap
  t.is((await h.client.retrieve(dir)).seqnum, seqnum);
  t.deepEqual([...(await h.dirs.list(ro)).keys()], ['f']);

  await rejectsWith(t, h.dirs.list(a.rwCap!), 'ERR_DIR_NOT_DIRECTORY');
  await rejectsWith(t, h.dirs.add(a.rwCap!, 'x', a), 'ERR_DIR_NOT_DIRECTORY');
});

test.serial('quick changes to one directory are published as one update', async (t) => {
  const h = await newClient(20);
  const dir = await h.dirs.createDirectory();
  const a = await newFile(h, 'a');
  await h.dirs.add(dir, 'existing', a);
  const seqnum = (await h.client.retrieve(dir)).seqnum;
  const names = Array.from({ length: 20 }, (_, i) => `file-${i}`);
  const results = await Promise.allSettled([
    ...names.map((name) => h.dirs.add(dir, name, a, { size: 1 })),
    h.dirs.add(dir, 'existing', a, undefined, { mustNotExist: true }), // fails alone
    h.dirs.rename(dir, 'file-0', 'renamed'), // sees the adds queued before it
    h.dirs.remove(dir, 'file-1'),
  ]);
  t.deepEqual(
    results.map((r) => r.status),
    [...names.map(() => 'fulfilled'), 'rejected', 'fulfilled', 'fulfilled'],
  );
  t.is(((results[20] as PromiseRejectedResult).reason as DirectoryError).code, 'ERR_DIR_EXISTS');
  t.is((await h.client.retrieve(dir)).seqnum, seqnum + 1, 'one publish for 23 operations');
  const listing = await h.dirs.list(dir);
  t.deepEqual([...listing.keys()].sort(), ['existing', 'renamed', ...names.slice(2)].sort());
});

test.serial('flush publishes queued changes at once, per directory or all', async (t) => {
  const h = await newClient(60_000); // the window would never end within the test
  const d1 = await h.dirs.createDirectory();
  const d2 = await h.dirs.createDirectory();
  const a = await newFile(h, 'a');
  const settled: string[] = [];
  const p1 = h.dirs.add(d1, 'x', a).then(() => settled.push('d1'));
  const p2 = h.dirs.add(d2, 'y', a).then(() => settled.push('d2'));
  await h.dirs.flush(d1);
  await p1;
  t.deepEqual(settled, ['d1']);
  t.truthy(await (await newClient()).dirs.lookup(d1, 'x'));
  await h.dirs.flush();
  await p2;
  t.deepEqual(settled, ['d1', 'd2']);
  t.truthy(await (await newClient()).dirs.lookup(d2, 'y'));
  await h.dirs.flush(); // nothing pending: returns at once
});

test.serial(
  'two clients adding different names at the same time: both entries remain',
  async (t) => {
    const alice = await newClient(0);
    const bob = await newClient(0);
    const dir = await alice.dirs.createDirectory();
    const a = await newFile(alice, 'a');
    for (let round = 0; round < 3; round++) {
      // Both start from a warm cache of the same version, so their first publishes collide.
      await Promise.all([alice.dirs.list(dir), bob.dirs.list(dir)]);
      await Promise.all([
        alice.dirs.add(dir, `alice-${round}`, a),
        bob.dirs.add(dir, `bob-${round}`, a),
      ]);
    }
    // The test is only worth something if the writes really collided and were re-applied.
    t.true(alice.dirs.stats.retries + bob.dirs.stats.retries >= 1, 'the updates collided');
    const expected = [0, 1, 2].flatMap((r) => [`alice-${r}`, `bob-${r}`]).sort();
    t.deepEqual([...(await alice.dirs.list(dir)).keys()].sort(), expected);
    t.deepEqual([...(await bob.dirs.list(dir)).keys()].sort(), expected);
  },
);

test.serial('a rename and an add by two clients at the same time both take effect', async (t) => {
  const alice = await newClient(0);
  const bob = await newClient(0);
  const dir = await alice.dirs.createDirectory();
  const a = await newFile(alice, 'a');
  const b = await newFile(alice, 'b');
  await alice.dirs.add(dir, 'draft', a);
  await Promise.all([alice.dirs.list(dir), bob.dirs.list(dir)]);
  await Promise.all([alice.dirs.rename(dir, 'draft', 'final'), bob.dirs.add(dir, 'other', b)]);
  t.true(alice.dirs.stats.retries + bob.dirs.stats.retries >= 1, 'the two updates collided');
  const listing = await (await newClient()).dirs.list(dir);
  t.deepEqual([...listing.keys()].sort(), ['final', 'other']);
  t.is(listing.get('final')!.rwCap, a.rwCap);
  t.is(listing.get('other')!.rwCap, b.rwCap);
});

test.serial(
  'a directory written by Tahoe-LAFS lists as Tahoe listed it, and can be changed',
  async (t) => {
    const h = await one();
    const vector = (name: string) => readFileSync(new URL(`./vectors/${name}`, import.meta.url));
    const cap = vector('grid-dir-cap.txt').toString('utf8').trim();
    const writeCap = requireWriteCap(parseCap(cap));
    // Put Tahoe's four shares (2 of 4 needed) on four of the servers, as Tahoe's client would.
    const leaseSecret = newLeaseSecret();
    await Promise.all(
      [0, 1, 2, 3].map(async (shnum) => {
        const server = h.servers[shnum];
        const share = new Uint8Array(vector(`grid-dir-sh${shnum}.sdmf`));
        const leases = leaseSecretsForCap(writeCap, leaseSecret, server.serverId);
        const response = await server.readTestWrite(
          writeCap.storageIndex,
          {
            writeEnabler: writeEnablerFor(writeCap, server.serverId),
            leaseRenewSecret: leases.renew,
            leaseCancelSecret: leases.cancel,
          },
          new Map([[shnum, { test: [], write: [{ offset: 0, data: share }], newLength: null }]]),
          [],
        );
        t.true(response.success);
      }),
    );
    const listing = JSON.parse(vector('grid-dir-listing.json').toString('utf8'))[1]
      .children as Record<string, [string, { rw_uri?: string; ro_uri: string; metadata: unknown }]>;
    const check = (got: Map<string, DirEntry>, withWriteCaps: boolean) => {
      t.deepEqual([...got.keys()].sort(), Object.keys(listing).sort());
      for (const [name, [kind, info]] of Object.entries(listing)) {
        const entry = got.get(name)!;
        t.is(entry.roCap, info.ro_uri, name);
        t.is(entry.rwCap, withWriteCaps ? info.rw_uri : undefined, name);
        t.deepEqual(entry.metadata, info.metadata, name);
        t.is(entry.isDirectory, kind === 'dirnode', name);
      }
    };
    check(await h.dirs.list(cap), true);
    check(await (await newClient()).dirs.list(readCap(cap)), false);

    // Change it: Tahoe's entries survive untouched beside ours.
    const mine = await newFile(h, 'mine');
    await h.dirs.add(cap, 'mine.txt', mine);
    const after = await (await newClient()).dirs.list(cap);
    t.is(after.get('mine.txt')!.rwCap, mine.rwCap);
    after.delete('mine.txt');
    check(after, true);
    t.is((await h.client.retrieve(cap)).seqnum, 5); // Tahoe left it at seqnum 4
  },
);

// ---- re-application rules, with a stand-in that replays the modifier like modify() does ----

/**
 * A MutableClient stand-in holding one directory's plaintext. Its modify() runs the
 * modifier once, pretends the publish collided although it reached the grid (so the grid
 * now holds that result, possibly changed further by `meanwhile`), and runs it again.
 */
function replayingClient(
  initial: Uint8Array,
  meanwhile: (published: Uint8Array) => Uint8Array = (p) => p,
) {
  const state = { plaintext: initial, calls: 0 };
  const client = {
    async modify(_cap: string, fn: (old: Uint8Array) => Uint8Array | Promise<Uint8Array>) {
      state.calls++;
      const landed = meanwhile(await fn(state.plaintext));
      state.plaintext = await fn(landed);
      return { plaintext: state.plaintext };
    },
  };
  return { state, dirs: new DirectoryClient(client as unknown as MutableClient) };
}

const tahoeCap = readFileSync(
  new URL('./vectors/grid-dir-cap.txt', import.meta.url),
  'utf8',
).trim();
const tahoeWritekey = requireWriteCap(parseCap(tahoeCap)).writekey;
const tahoePlaintext = new Uint8Array(
  readFileSync(new URL('./vectors/grid-dir-plaintext.bin', import.meta.url)),
);
const names = (plaintext: Uint8Array) =>
  unpackChildren(tahoeWritekey, plaintext)
    .map((c) => c.name)
    .sort();
const someCap = 'URI:LIT:nbswy3dpebthe33nebqsatcjkqqgm2lmmufa';

test('operations re-applied after their own publish landed succeed and do not repeat', async (t) => {
  const { state, dirs } = replayingClient(tahoePlaintext);
  const [added, removed, renamed] = await Promise.allSettled([
    dirs.add(tahoeCap, 'new', { roCap: someCap }, undefined, { mustNotExist: true }),
    dirs.remove(tahoeCap, 'hello.txt'),
    dirs.rename(tahoeCap, 'subdir', 'subdir2', { replace: false }),
  ]);
  t.is(state.calls, 1, 'one modify for the three operations');
  t.is(added.status, 'fulfilled');
  t.is(renamed.status, 'fulfilled');
  t.is(removed.status, 'fulfilled');
  t.is((removed as PromiseFulfilledResult<DirEntry | undefined>).value?.name, 'hello.txt');
  t.deepEqual(names(state.plaintext), ['new', 'sdmf-sample.bin', 'subdir2']);
});

test('a re-applied exclusive add still fails when someone else linked another child', async (t) => {
  const other = 'URI:LIT:mfrggzdfmztwq2lknnwg23tpobyxe43uov3ho6dzpi';
  const { state, dirs } = replayingClient(tahoePlaintext, (published) => {
    const children = unpackChildren(tahoeWritekey, published).filter((c) => c.name !== 'new');
    return packChildren(tahoeWritekey, [...children, { name: 'new', roCap: other, metadata: {} }]);
  });
  await rejectsWith(
    t,
    dirs.add(tahoeCap, 'new', { roCap: someCap }, undefined, { mustNotExist: true }),
    'ERR_DIR_EXISTS',
  );
  const entry = unpackChildren(tahoeWritekey, state.plaintext).find((c) => c.name === 'new');
  t.is(entry?.roCap, other, 'the other writer’s child is left in place');
});

test('childCapsOf: a write cap links read-write, a read cap read-only', (t) => {
  const rw =
    'URI:DIR2:5yf7vesglrtnixfhe5xmesi43q:djzbuko2ccvkx3cmdxefkfrzbymvw62hnozjnzwqrtpdld3y2p7q';
  const ro =
    'URI:DIR2-RO:ic4vs3udomeu6srcrp34qigrqu:djzbuko2ccvkx3cmdxefkfrzbymvw62hnozjnzwqrtpdld3y2p7q';
  t.deepEqual(childCapsOf(rw), { rwCap: rw, roCap: ro });
  t.deepEqual(childCapsOf(ro), { roCap: ro });
  t.deepEqual(childCapsOf(someCap), { roCap: someCap });
});

test.serial('directories of either format hold children of either format', async (t) => {
  const h = await one();
  const edDir = await h.dirs.createDirectory();
  const tahoeDir = await h.dirs.createDirectory({ format: 'tahoe' });
  t.regex(edDir, /^URI:DIR2-ED25519:/);
  t.regex(tahoeDir, /^URI:DIR2:[a-z2-7]{26}:[a-z2-7]{52}$/);
  const edFile = (await h.client.create(new TextEncoder().encode('ed'), { format: 'ed25519' })).cap;
  const tahoeFile = (await h.client.create(new TextEncoder().encode('rsa'), { format: 'tahoe' }))
    .cap;
  t.regex(tahoeFile, /^URI:SSK:/);
  for (const dir of [edDir, tahoeDir]) {
    await h.dirs.add(dir, 'ed.txt', childCapsOf(edFile));
    await h.dirs.add(dir, 'rsa.txt', childCapsOf(tahoeFile));
    await h.dirs.add(dir, 'sub', childCapsOf(dir === edDir ? tahoeDir : edDir));
  }
  const other = await newClient();
  for (const dir of [edDir, tahoeDir]) {
    for (const view of [dir, readCap(dir)]) {
      const listing = await other.dirs.list(view);
      t.deepEqual([...listing.keys()].sort(), ['ed.txt', 'rsa.txt', 'sub']);
      t.is(listing.get('ed.txt')!.rwCap, view === dir ? edFile : undefined);
      t.is(listing.get('rsa.txt')!.rwCap, view === dir ? tahoeFile : undefined);
      t.true(listing.get('sub')!.isDirectory);
      const child = listing.get('ed.txt')!.rwCap ?? listing.get('ed.txt')!.roCap;
      t.is(new TextDecoder().decode((await other.client.retrieve(child)).plaintext), 'ed');
    }
  }
  // Read caps of each format are stored as given and point at the right file.
  t.regex((await other.dirs.list(readCap(edDir))).get('ed.txt')!.roCap, /^URI:ED25519-RO:/);
  t.regex((await other.dirs.list(readCap(tahoeDir))).get('rsa.txt')!.roCap, /^URI:SSK-RO:/);
});

test.serial(
  'updates that met only this client’s versions report in sync; another writer’s version changes the lineage',
  async (t) => {
    const a = await newClient();
    const b = await newClient();
    const synced: Array<{ cap: string; readAt: number; lineage: number }> = [];
    a.dirs.onInSync = (cap, readAt, lineage) => synced.push({ cap, readAt, lineage });
    const file = await newFile(a, 'x');

    // A folder made and announced here: its empty table is known, so the first update met
    // nothing unseen.
    const dir = await a.dirs.createDirectory();
    a.dirs.created(dir);
    const lineage = a.dirs.lineage(dir);
    const before = Date.now();
    await a.dirs.add(dir, 'one', file);
    await a.dirs.add(dir, 'two', file);
    t.deepEqual(
      synced.map((s) => [s.cap, s.lineage]),
      [
        [dir, lineage],
        [dir, lineage],
      ],
    );
    t.true(synced[0]!.readAt >= before && synced[1]!.readAt <= Date.now());
    t.is(a.dirs.lineage(dir), lineage);

    // Another writer's version, met by the next update: not in sync, and the lineage moves on.
    await b.dirs.add(dir, 'theirs', file);
    await a.dirs.add(dir, 'three', file);
    t.is(synced.length, 2);
    t.not(a.dirs.lineage(dir), lineage);
    // From then on this client's own versions again.
    await a.dirs.add(dir, 'four', file);
    t.is(synced.length, 3);
    t.is(synced[2]!.lineage, a.dirs.lineage(dir));

    // A folder this client did not announce: its first update reads a version it had not seen.
    const unannounced = await a.dirs.createDirectory();
    await a.dirs.add(unannounced, 'one', file);
    t.is(synced.length, 3);
    t.deepEqual([...(await a.dirs.list(dir)).keys()].sort(), [
      'four',
      'one',
      'theirs',
      'three',
      'two',
    ]);
  },
);

test('pace: a slow folder collects its next changes until flush() (or the paced window)', async (t) => {
  const h = await one();
  // factor × the last update's duration (≥ 1 ms on a real grid) is ≥ 1 s: far longer than
  // this test waits, so only flush() sends the second batch.
  const dirs = new DirectoryClient(h.client, {
    batchWindowMs: 0,
    pace: { factor: 1000, maxMs: 60_000 },
  });
  const dir = await dirs.createDirectory();
  const file = await newFile(h, 'x');
  await dirs.add(dir, 'first', file); // sets the pace
  t.is(dirs.stats.updates, 1);
  let settled = 0;
  const adds = ['a', 'b', 'c'].map((name) => dirs.add(dir, name, file).then(() => settled++));
  await new Promise((resolve) => setTimeout(resolve, 50));
  t.is(settled, 0, 'still collecting');
  t.is(dirs.stats.updates, 1);
  await dirs.flush(dir);
  await Promise.all(adds);
  t.is(dirs.stats.updates, 2, 'the three changes went out in one update');
  t.is(dirs.stats.operations, 4);
  t.deepEqual([...(await dirs.list(dir)).keys()].sort(), ['a', 'b', 'c', 'first']);
});

test('pace must be finite and ≥ 0', (t) => {
  const h = { client: undefined as unknown as MutableClient };
  for (const pace of [
    { factor: -1, maxMs: 10 },
    { factor: 1, maxMs: Infinity },
    { factor: NaN, maxMs: 1 },
  ]) {
    t.throws(() => new DirectoryClient(h.client, { pace }), { instanceOf: RangeError });
  }
});
