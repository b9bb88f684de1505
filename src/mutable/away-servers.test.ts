// Servers that are away (SIGSTOPped real servers on loopback) are remembered across
// operations (src/grid/server-health.ts): later writes do not ask them, a server that
// answers again is used again, and readers still find a newer version held only by
// servers they believed away.
import test from 'ava';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ClientCache } from '../cache/client-cache.js';
import { FaultyStorageClient } from '../grid/faults/index.js';
import { ServerHealth } from '../grid/server-health.js';
import type { HttpStorageClient } from '../grid/http-client.js';
import { MutableClient, newLeaseSecret } from './mutable-client.js';
import { TestGrid } from './test-support/test-grid.js';

let grid: TestGrid;
const cleanups: Array<() => Promise<void>> = [];

test.before(async () => {
  grid = await TestGrid.start(5);
});
test.afterEach.always(() => {
  for (let i = 0; i < 5; i++) grid.resume(i);
});
test.after.always(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
  await grid?.stop();
});

const text = (s: string) => new TextEncoder().encode(s);
const str = (b: Uint8Array) => new TextDecoder().decode(b);

/** A client of all five servers (k=3, N=5, happy=3) with its own cache and health. */
async function newClient(
  health: ServerHealth | undefined,
  happy = 3,
  only?: number[],
  noCache = false,
): Promise<{ client: MutableClient; http: HttpStorageClient[] }> {
  const dir = await mkdtemp(join(tmpdir(), 'slotfs-away-'));
  const cache = noCache ? undefined : await ClientCache.open(join(dir, 'cache'));
  const all = grid.clients(800);
  const http = only ? all.filter((_, i) => only.includes(i)) : all;
  cleanups.push(() => Promise.all(all.map((s) => s.close())).then(() => undefined));
  cleanups.push(async () => {
    await cache?.close();
    await Promise.all(http.map((s) => s.close()));
    await health?.settled();
    await rm(dir, { recursive: true, force: true });
  });
  const client = new MutableClient({
    servers: http,
    leaseSecret: newLeaseSecret(),
    cache,
    k: 3,
    N: 5,
    happy,
    epsilon: 2,
    health,
  });
  return { client, http };
}

const names = (i: number[]) => i.map((n) => grid.servers[n].entry.name);
const asked = (cost: { byServer: Map<string, unknown> }, servers: string[]) =>
  servers.filter((s) => cost.byServer.has(s));

test.serial('after one wait, later writes do not ask the away servers', async (t) => {
  const health = new ServerHealth({ initialBackoffMs: 60_000 });
  const { client } = await newClient(health);
  const { cap } = await client.create(text('v1'));
  grid.pause(0);
  grid.pause(1);
  const away = names([0, 1]);
  // The first update learns it the hard way: its requests to them time out.
  const first = await client.update(cap, text('v2'));
  t.deepEqual(asked(first.cost, away).sort(), away.sort());
  t.true(away.every((n) => health.record(n)!.awayUntil !== null));
  // Later operations plan around them: not one request, and still ≥ happy servers.
  for (let i = 3; i <= 6; i++) {
    const r = await client.update(cap, text(`v${i}`));
    t.deepEqual(asked(r.cost, away), [], `update ${i}`);
  }
  const other = await client.create(text('new file'));
  t.deepEqual(asked(other.cost, away), [], 'create');
  const dirLike = await client.modify(other.cap, (old) => text(`${str(old)}+`));
  t.deepEqual(asked(dirLike.cost, away), [], 'modify');
  // Reading what it wrote: confirmed by the three servers left, the away ones not waited for.
  const again = await client.retrieve(cap);
  t.true(again.fromCache);
  t.is(str(again.plaintext), 'v6');
  t.deepEqual(asked(again.cost, away), [], 'retrieve');
  // A client with no memory of the file reads the latest from the three left.
  const fresh = await newClient(undefined);
  t.is(str((await fresh.client.retrieve(cap)).plaintext), 'v6');
});

test.serial('a server that answers again is used again', async (t) => {
  const health = new ServerHealth({ initialBackoffMs: 50, maxBackoffMs: 200 });
  const { client, http } = await newClient(health);
  const { cap } = await client.create(text('v1'));
  grid.pause(2);
  const [name] = names([2]);
  await client.update(cap, text('v2'));
  t.not(health.record(name)!.awayUntil, null);
  grid.resume(2);
  // The back-off ends, a background probe gets an answer: then it is used at once.
  for (let i = 0; i < 200 && health.isAway(http[2]); i++) {
    await health.settled();
    await sleep(20);
  }
  t.is(health.record(name)!.awayUntil, null);
  let r = await client.update(cap, text('v3'));
  // The first publish after the comeback goes cold (the hint lacks it) and places a share
  // there again; from then on it is one of the servers written to.
  r = await client.update(cap, text('v4'));
  t.true(r.cost.byServer.has(name), `asked: ${[...r.cost.byServer.keys()].join(',')}`);
  t.is(r.cost.byServer.get(name)!.failures, 0);
});

test.serial(
  'a reader still finds a newer version held only by servers it took for away',
  async (t) => {
    const health = new ServerHealth({ initialBackoffMs: 60_000 });
    const reader = await newClient(health);
    // A second reader of the same process (same health record) with no memory of the file.
    const memoryless = await newClient(health, 3, undefined, true);
    const writer = await newClient(undefined);
    const { cap } = await writer.client.create(text('v1'));
    t.is(str((await reader.client.retrieve(cap)).plaintext), 'v1');
    // The reader sees servers 0 and 1 fail to answer.
    grid.pause(0);
    grid.pause(1);
    t.is(str((await reader.client.retrieve(cap)).plaintext), 'v1');
    const away = names([0, 1]);
    t.true(away.every((n) => health.record(n)!.awayUntil !== null));
    // They come back, and a writer that knows only them puts version 2 there (all five
    // share numbers); the other three keep version 1.
    grid.resume(0);
    grid.resume(1);
    const narrow = await newClient(undefined, 2, [0, 1]);
    await narrow.client.update(cap, text('v2'));
    // Still "away" in the record; a reader with no memory hears from three servers, fewer
    // than k+ε, so it asks them too and finds version 2.
    t.true(away.every((n) => health.record(n)!.awayUntil !== null));
    const got = await memoryless.client.retrieve(cap);
    t.is(str(got.plaintext), 'v2');
    t.deepEqual(asked(got.cost, away).sort(), away.sort());
    // They answered, so they are back at once, and the reader with memory finds it too.
    t.true(away.every((n) => health.record(n)!.awayUntil === null));
    t.is(str((await reader.client.retrieve(cap)).plaintext), 'v2');
  },
);

test.serial('a writer stops waiting for a server found away while its query is out', async (t) => {
  t.timeout(120_000); // failing, it would wait for the held server forever
  const health = new ServerHealth({ initialBackoffMs: 60_000 });
  const http = grid.clients(5000);
  cleanups.push(async () => {
    await Promise.all(http.map((s) => s.close()));
    await health.settled();
  });
  const faulty = http.map((s) => new FaultyStorageClient(s));
  const { cap } = await new MutableClient({
    servers: faulty,
    leaseSecret: newLeaseSecret(),
    k: 3,
    N: 5,
    happy: 3,
  }).create(text('v1'));
  // A writer with no cache: its servermap asks all five. Server 0's query hangs; server
  // 1's is held until server 0 has been found away (by "another operation").
  const hold = () => {
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    return { held, release };
  };
  const zero = hold();
  const one = hold();
  let zeroAsked!: () => void;
  const zeroQueried = new Promise<void>((r) => (zeroAsked = r));
  const isMapQuery = (c: { op: string; writes: unknown[] }) =>
    c.op === 'readTestWrite' && c.writes.length === 0;
  faulty[0].gate = async (c) => {
    if (!isMapQuery(c)) return;
    zeroAsked();
    await zero.held;
  };
  faulty[1].gate = async (c) => {
    if (isMapQuery(c)) await one.held;
  };
  const writer = new MutableClient({
    servers: faulty,
    leaseSecret: newLeaseSecret(),
    k: 3,
    N: 5,
    happy: 3,
    health,
  });
  const update = writer.update(cap, text('v2'));
  await zeroQueried;
  health.noteError(faulty[0], { code: 'ERR_SERVER_TIMEOUT' });
  one.release();
  // Done with server 0's query still held: nothing was waited for from it.
  const r = await update;
  t.is(r.seqnum, 2);
  zero.release();
  const fresh = await newClient(undefined);
  t.is(str((await fresh.client.retrieve(cap)).plaintext), 'v2');
});
