// The pure part of recovery (candidate order, "safely placed") on hand-made servermaps, and
// the private-key preference of the servermap update on in-memory servers.
import test from 'ava';
import { randomBytes } from 'node:crypto';
import { resolveCapKeys } from '../sdmf/cap-keys.js';
import { buildShares } from '../sdmf/build.js';
import { formatCap, writeCapFromKeyPair } from '../caps/index.js';
import { generateRsaKeyPair } from '../crypto/rsa.js';
import { FaultGrid } from '../grid/faults/index.js';
import type { StorageClient } from '../grid/storage-client.js';
import { MemoryStorageClient, MemoryStorageServer } from '../grid/test-support/memory-client.js';
import type { SharePrefix } from '../sdmf/layout.js';
import { fileContext, slotSecrets } from './context.js';
import { updateServermap } from './map-update.js';
import {
  baseCandidates,
  orderCandidates,
  safelyPlaced,
  fullyPlaced,
  type OwnVersion,
} from './recovery.js';
import { Servermap } from './servermap.js';

const fakeServers = Array.from(
  { length: 12 },
  (_, i) => ({ name: `s${i}` }) as unknown as StorageClient,
);

/** A map holding version `tag` (seqnum, share numbers on consecutive servers). */
function mapWith(
  versions: Array<{ tag: number; seqnum: number; shares: number[]; servers?: number[] }>,
  k = 3,
  N = 10,
): Servermap {
  const map = new Servermap();
  let next = 0;
  for (const v of versions) {
    const rootHash = new Uint8Array(32).fill(v.tag);
    v.shares.forEach((shareNumber, i) => {
      const server = fakeServers[v.servers?.[i] ?? next++];
      map.answered(server, [shareNumber]);
      map.add({
        server,
        shareNumber,
        bytes: new Uint8Array(0),
        prefix: { seqnum: v.seqnum, rootHash, salt: new Uint8Array(16), k, N } as SharePrefix,
        versionKey: `v${v.tag}`,
      });
    });
  }
  return map;
}

const own = (seqnum: number, tag?: number): OwnVersion => ({
  plaintext: new Uint8Array([1]),
  seqnum,
  rootHash: tag === undefined ? new Uint8Array(32).fill(99) : new Uint8Array(32).fill(tag),
  k: 3,
  N: 10,
});

const order = (cs: ReturnType<typeof orderCandidates>) =>
  cs.map((c) => (c.own ? `own@${c.seqnum}/${c.shares}` : `${c.summary!.versionKey}@${c.seqnum}`));

test('highest seqnum first, then the most shares; unrecoverable versions are not candidates', (t) => {
  const map = mapWith([
    { tag: 1, seqnum: 5, shares: [0, 1, 2] },
    { tag: 2, seqnum: 6, shares: [3, 4, 5] },
    { tag: 3, seqnum: 6, shares: [6, 7, 8, 9] },
    { tag: 4, seqnum: 7, shares: [0, 1] }, // newest, but only 2 < k shares
  ]);
  t.deepEqual(order(orderCandidates(map)), ['v3@6', 'v2@6', 'v1@5']);
  t.is(map.bestRecoverable()?.versionKey, 'v3', 'readers use the same order');
});

test('our own version goes last unless it is the newest', (t) => {
  const map = mapWith([
    { tag: 1, seqnum: 5, shares: [0, 1, 2, 3] },
    { tag: 2, seqnum: 6, shares: [4, 5] },
  ]);
  // Ours at 6 ties the newest seqnum seen: sorted by shares (2 on the grid: tag 2 is ours).
  t.deepEqual(order(orderCandidates(map, own(6, 2))), ['own@6/2', 'v1@5']);
  // Ours at 5 while 6 was seen: last, even though it is recoverable with 3 shares.
  const older = mapWith([
    { tag: 1, seqnum: 5, shares: [0, 1, 2] },
    { tag: 2, seqnum: 5, shares: [3, 4, 5, 6] },
    { tag: 3, seqnum: 6, shares: [7, 8] },
  ]);
  t.deepEqual(order(orderCandidates(older, own(5, 1))), ['v2@5', 'own@5/3']);
  // With nothing recoverable, ours is the only candidate: the file is never lost.
  const scattered = mapWith([
    { tag: 1, seqnum: 6, shares: [0, 1] },
    { tag: 2, seqnum: 6, shares: [2, 3] },
    { tag: 3, seqnum: 6, shares: [4, 5] },
  ]);
  t.deepEqual(order(orderCandidates(scattered, own(6, 2))), ['own@6/2']);
  t.deepEqual(orderCandidates(scattered), []);
  // At an equal seqnum and equal share count, another writer's version goes first.
  const tie = mapWith([
    { tag: 1, seqnum: 6, shares: [0, 1, 2] },
    { tag: 2, seqnum: 6, shares: [3, 4, 5] },
  ]);
  t.deepEqual(order(orderCandidates(tie, own(6, 2))), ['v1@6', 'own@6/3']);
});

test("modify builds on another writer's version at least as new as its own base, never on a loser", (t) => {
  const names = (r: ReturnType<typeof baseCandidates>) => order(r.candidates);
  // We (tag 2, seq 6, built on seq 4) lost to a version built while we were: seq 5 by
  // another writer. Our fragment is newer and recoverable, but lacks that change.
  const lost = mapWith([
    { tag: 1, seqnum: 5, shares: [0, 1, 2, 3, 4] },
    { tag: 2, seqnum: 6, shares: [5, 6, 7, 8, 9] },
  ]);
  const r1 = baseCandidates(lost, own(6, 2), 4);
  t.is(names(r1)[0], 'v1@5');
  t.false(r1.newerVisible);
  // Five writers, two shares each, the old version gone: our own attempt is the base.
  const split = mapWith(
    [1, 2, 3, 4, 5].map((tag, i) => ({ tag, seqnum: 2, shares: [2 * i, 2 * i + 1] })),
  );
  const r2 = baseCandidates(split, own(2, 3), 1);
  t.deepEqual(names(r2), ['own@2/2']);
  t.false(r2.newerVisible);
  // Split 5/5: the other writer's version first, so each re-applies to the other's.
  const halves = mapWith([
    { tag: 1, seqnum: 2, shares: [0, 1, 2, 3, 4] },
    { tag: 2, seqnum: 2, shares: [5, 6, 7, 8, 9] },
  ]);
  t.is(names(baseCandidates(halves, own(2, 2), 1))[0], 'v1@2');
  // Our base is still there: build on it again (same bytes as our attempt).
  const base = mapWith([
    { tag: 1, seqnum: 2, shares: [0, 1, 2, 3, 4, 5, 6, 7] },
    { tag: 2, seqnum: 3, shares: [8, 9] },
  ]);
  t.is(names(baseCandidates(base, own(3, 2), 2))[0], 'v1@2');
  t.false(baseCandidates(base, own(3, 2), 2).newerVisible);
  // Without a collision: a newer version that cannot be read yet means "look again".
  const inFlight = mapWith([
    { tag: 1, seqnum: 2, shares: [0, 1, 2, 3, 4, 5, 6, 7] },
    { tag: 2, seqnum: 3, shares: [8, 9] },
  ]);
  t.true(baseCandidates(inFlight).newerVisible);
  t.false(baseCandidates(mapWith([{ tag: 1, seqnum: 2, shares: [0, 1, 2] }])).newerVisible);
});

test('safely placed: only version at the top seqnum, enough servers with distinct shares', (t) => {
  const one = mapWith([{ tag: 1, seqnum: 4, shares: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9] }]);
  const v = one.versions()[0];
  t.true(safelyPlaced(one, v, 7));
  t.true(fullyPlaced(one, v, 7));
  const partial = mapWith([{ tag: 1, seqnum: 4, shares: [0, 1, 2, 3, 4, 5, 6] }]);
  t.true(safelyPlaced(partial, partial.versions()[0], 7));
  t.false(fullyPlaced(partial, partial.versions()[0], 7), 'three share numbers missing');
  // All ten share numbers, but on only 5 servers: happiness 5.
  const doubled = mapWith([
    {
      tag: 1,
      seqnum: 4,
      shares: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
      servers: [0, 0, 1, 1, 2, 2, 3, 3, 4, 4],
    },
  ]);
  t.false(safelyPlaced(doubled, doubled.versions()[0], 7));
  t.true(safelyPlaced(doubled, doubled.versions()[0], 5));
  const rival = mapWith([
    { tag: 1, seqnum: 4, shares: [0, 1, 2, 3, 4, 5, 6, 7] },
    { tag: 2, seqnum: 4, shares: [8, 9] },
  ]);
  t.false(safelyPlaced(rival, rival.versions()[0], 7), 'a rival version at the same seqnum');
  const newer = mapWith([
    { tag: 1, seqnum: 4, shares: [0, 1, 2, 3, 4, 5, 6, 7] },
    { tag: 2, seqnum: 5, shares: [8, 9] },
  ]);
  t.false(safelyPlaced(newer, newer.versions()[1], 7), 'a newer (unrecoverable) version exists');
});

test('the private key is fetched from the home server first when it is not in the first read', async (t) => {
  const keys = await generateRsaKeyPair();
  const cap = writeCapFromKeyPair(keys, { directory: false });
  const memory = Array.from(
    { length: 5 },
    (_, i) =>
      new MemoryStorageClient(
        new MemoryStorageServer(new Uint8Array(randomBytes(20)), { readFromEnd: false }),
        { name: `m${i}` },
      ),
  );
  const grid = new FaultGrid(memory, { record: true });
  const ctx = fileContext(resolveCapKeys(formatCap(cap)), grid.clients, new Uint8Array(32));
  const version = buildShares(new Uint8Array(randomBytes(8000)), keys, 1, 2, 5);
  for (const [i, server] of ctx.permuted.entries()) {
    await server.readTestWrite(
      ctx.keys.storageIndex,
      slotSecrets(ctx, server),
      new Map([
        [i, { test: [], write: [{ offset: 0, data: version.shares[i] }], newLength: null }],
      ]),
      [],
    );
  }
  const home = ctx.permuted[3];
  for (const c of grid.clients) c.calls.length = 0;
  const result = await updateServermap(ctx, {
    mode: 'write',
    readSize: 1000, // the key lies beyond: it needs a read of its own
    epsilon: 2,
    k: 2,
    N: 5,
    wantPrivateKey: true,
    preferKeyFrom: home,
  });
  t.truthy(result.privateKey);
  const keyReads = grid.clients.flatMap((c) => c.calls).filter((c) => c.op === 'readShare');
  t.is(keyReads.length, 1, 'one read for the key');
  t.is(keyReads[0].server, home.name);
});
