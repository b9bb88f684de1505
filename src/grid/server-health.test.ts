// The health record's rules: which failures make a server away, how the back-off grows
// and is capped, that only a real answer (probe or request) brings a server back.
import test from 'ava';
import { randomBytes } from 'node:crypto';
import { FaultyStorageClient, SLOT_OPS } from './faults/index.js';
import { ServerHealth } from './server-health.js';
import type { StorageClient } from './storage-client.js';
import { MemoryStorageClient, MemoryStorageServer } from './test-support/memory-client.js';

function setup() {
  let now = 1_000_000;
  const health = new ServerHealth({ initialBackoffMs: 1000, maxBackoffMs: 4000, now: () => now });
  const server = new MemoryStorageServer(new Uint8Array(randomBytes(20)));
  const faulty = new FaultyStorageClient(new MemoryStorageClient(server, { name: 'm0' }));
  const watched = health.watch(faulty);
  return { health, faulty, watched, advance: (ms: number) => (now += ms), at: () => now };
}

const si = new Uint8Array(16);

test('a refused connection makes a server away; the back-off doubles up to the cap', async (t) => {
  const { health, faulty, watched, advance, at } = setup();
  t.false(health.isAway(watched));
  // Down for the probes (the version document) too.
  faulty.set({ fault: { kind: 'down' }, ops: ['getVersion', ...SLOT_OPS] });
  const expected = [1000, 2000, 4000, 4000];
  for (const backoff of expected) {
    await t.throwsAsync(watched.listShares(si), { code: 'ERR_SERVER_UNREACHABLE' });
    t.is(health.record('m0')!.awayUntil, at() + backoff);
    t.true(health.isAway(watched));
  }
  t.is(health.record('m0')!.failures, 4);
  // Over: one probe goes out; it fails too, so the back-off stays at the cap.
  advance(4000);
  t.true(health.isAway(watched));
  t.true(health.record('m0')!.probing);
  await health.settled();
  t.is(health.record('m0')!.failures, 5);
  t.is(health.record('m0')!.awayUntil, at() + 4000);
  // It answers the next probe: back at once, the count of failures forgotten.
  faulty.clear();
  advance(4000);
  t.true(health.isAway(watched));
  await health.settled();
  t.false(health.isAway(watched));
  t.like(health.record('m0'), { failures: 0, awayUntil: null, lastError: null });
});

test('a timeout makes a server away; an error the server answered with does not', async (t) => {
  const { health, faulty, watched } = setup();
  faulty.set({ kind: 'http-error', status: 500 });
  await t.throwsAsync(watched.listShares(si), { code: 'ERR_SERVER_HTTP_STATUS' });
  t.false(health.isAway(watched));
  faulty.set({ kind: 'stall', ms: 1 });
  await t.throwsAsync(watched.listShares(si), { code: 'ERR_SERVER_TIMEOUT' });
  t.true(health.isAway(watched));
  t.is(health.record('m0')!.lastError, 'ERR_SERVER_TIMEOUT');
  // Any answer, even an error status, brings it back before the back-off ends.
  faulty.set({ kind: 'http-error', status: 503 });
  await t.throwsAsync(watched.listShares(si), { code: 'ERR_SERVER_HTTP_STATUS' });
  t.false(health.isAway(watched));
});

test('a cached version document is not taken for an answer', async (t) => {
  const { health, faulty, watched } = setup();
  faulty.set({ fault: { kind: 'down' }, ops: ['listShares'] });
  await t.throwsAsync(watched.listShares(si));
  // Answered without asking the server (MemoryStorageClient, like the HTTP client, keeps it).
  await watched.getVersion();
  t.true(health.isAway(watched), 'still away after a getVersion served from the cache');
});

/** A health-watched client without `method`, and one whose server client has it as `impl`. */
function withOptional<K extends 'readMany' | 'readTestWriteMany'>(
  method: K,
  impl: StorageClient[K],
) {
  const health = new ServerHealth({ initialBackoffMs: 1000, maxBackoffMs: 4000 });
  const server = new MemoryStorageServer(new Uint8Array(randomBytes(20)));
  const plain = new MemoryStorageClient(server, { name: 'm1' });
  const withIt = Object.assign(Object.create(plain) as StorageClient, { [method]: impl });
  return { without: health.watch(plain), watched: health.watch(withIt) };
}

test('read-many is forwarded when the server client has it, and absent when it has not', async (t) => {
  const asked: number[] = [];
  const { without, watched } = withOptional('readMany', async (reads, length) => {
    asked.push(reads.length, length);
    return reads.map(() => null);
  });
  t.is(without.readMany, undefined, 'callers fall back to share-by-share reads');
  t.deepEqual(await watched.readMany!([{ storageIndex: si, shareNumber: 0 }], 57), [null]);
  t.deepEqual(asked, [1, 57]);
});

test('read-test-write-many is forwarded when the server client has it, and absent when it has not', async (t) => {
  const asked: number[] = [];
  const { without, watched } = withOptional('readTestWriteMany', async (writes) => {
    asked.push(writes.length);
    return writes.map(() => ({ success: true, data: new Map() }));
  });
  t.is(without.readTestWriteMany, undefined, 'callers fall back to single writes');
  const secrets = {
    writeEnabler: new Uint8Array(32),
    leaseRenewSecret: new Uint8Array(32),
    leaseCancelSecret: new Uint8Array(32),
  };
  const write = { storageIndex: si, secrets, testWriteVectors: new Map(), readVector: [] };
  t.deepEqual(await watched.readTestWriteMany!([write, write]), [
    { success: true, data: new Map() },
    { success: true, data: new Map() },
  ]);
  t.deepEqual(asked, [2]);
});
