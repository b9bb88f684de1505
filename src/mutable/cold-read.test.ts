// A cold reader (no cache, no hints) of a file whose shares sit on fewer than k servers:
// the guessed share per server is not enough, so it goes back for the rest.
import test from 'ava';
import { randomBytes } from 'node:crypto';
import { MemoryStorageClient, MemoryStorageServer } from '../grid/test-support/memory-client.js';
import { measureOperation } from '../grid/request-events.js';
import { MutableClient } from './mutable-client.js';

function client(servers: MemoryStorageServer[]) {
  return new MutableClient({
    servers: servers.map((s, i) => new MemoryStorageClient(s, { name: `m${i}` })),
    leaseSecret: new Uint8Array(randomBytes(32)),
    k: 3,
    N: 5,
    happy: 2,
  });
}

test('a second client reads a file whose shares are doubled up on two servers', async (t) => {
  const servers = [0, 1].map(() => new MemoryStorageServer(new Uint8Array(randomBytes(20))));
  const data = new Uint8Array(randomBytes(5000));
  const { cap } = await client(servers).create(data);
  const held = servers.map((s) => [...s.slots.values()][0]?.size ?? 0);
  t.true(
    held.every((n) => n >= 2),
    `shares per server: ${held.join(',')}`,
  );
  const { result, cost } = await measureOperation(() => client(servers).retrieve(cap));
  t.deepEqual(result.plaintext, data);
  // Guessed reads, then a listing and the remaining shares: no more than that.
  t.true(cost.roundTrips <= 3, `${cost.roundTrips} round trips`);
});

test('one server holding every share is enough for a cold reader', async (t) => {
  const servers = [new MemoryStorageServer(new Uint8Array(randomBytes(20)))];
  const data = new Uint8Array(randomBytes(300));
  const { cap } = await new MutableClient({
    servers: servers.map((s) => new MemoryStorageClient(s)),
    leaseSecret: new Uint8Array(randomBytes(32)),
    k: 3,
    N: 5,
    happy: 1,
  }).create(data);
  t.deepEqual((await client(servers).retrieve(cap)).plaintext, data);
});
