// Close-to-open checks of many files at once (read-many, a slotfs storage extension): one
// request per server confirms every cached file whose version the servers still hold; a
// file another client changed is not confirmed; servers without the extension confirm
// nothing (and say so), so callers fall back to one retrieve per file.
import test from 'ava';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ClientCache } from '../cache/client-cache.js';
import { fromUtf8, utf8 } from '../encoding/bytes.js';
import { ServerUnsupportedError } from '../grid/errors.js';
import {
  decodeReadManyRequest,
  encodeReadManyRequest,
  ProtocolError,
} from '../storage/protocol.js';
import { encode } from 'cbor2';
import { MutableClient, newLeaseSecret } from './mutable-client.js';
import { TestGrid } from './test-support/test-grid.js';

const SHAPE = { k: 2, N: 4, happy: 3 };
let grid: TestGrid;
let plainGrid: TestGrid;
test.before(async () => {
  [grid, plainGrid] = await Promise.all([
    TestGrid.start(4),
    TestGrid.start(4, ['--no-extensions']),
  ]);
});
test.after.always(async () => {
  await Promise.allSettled([grid?.stop(), plainGrid?.stop()]);
});

async function cachedClient(t: import('ava').ExecutionContext, g: TestGrid) {
  const dir = await mkdtemp(join(tmpdir(), 'slotfs-confirm-'));
  const cache = await ClientCache.open(join(dir, 'cache'));
  const servers = g.clients();
  t.teardown(async () => {
    await Promise.allSettled(servers.map((s) => s.close()));
    await cache.close();
    await rm(dir, { recursive: true, force: true });
  });
  return new MutableClient({ servers, leaseSecret: newLeaseSecret(), cache, ...SHAPE });
}

function plainClient(t: import('ava').ExecutionContext, g: TestGrid) {
  const servers = g.clients();
  t.teardown(() => Promise.allSettled(servers.map((s) => s.close())).then(() => undefined));
  return new MutableClient({ servers, leaseSecret: newLeaseSecret(), ...SHAPE });
}

test('one request per server confirms every cached file; a file changed elsewhere is left to retrieve', async (t) => {
  const a = await cachedClient(t, grid);
  const b = plainClient(t, grid);
  await a.connect(); // version documents, as a mount fetches them when it starts
  const caps: string[] = [];
  for (let i = 0; i < 6; i++) caps.push((await a.create(utf8(`file ${i} v1`))).cap);
  // Another client changes file 3; a file A never saw is asked about too.
  await b.update(caps[3], utf8('file 3 v2'));
  const unknown = (await b.create(utf8('not cached by A'))).cap;

  const { confirmed, cost } = await a.confirmMany([...caps, unknown]);
  t.deepEqual([...confirmed.keys()].sort(), caps.filter((_, i) => i !== 3).sort());
  t.is(fromUtf8(confirmed.get(caps[5])!.plaintext), 'file 5 v1');
  t.is(confirmed.get(caps[5])!.seqnum, 1);
  t.is(cost.requests, grid.servers.length, 'one read-many request per server');
  t.is(cost.roundTrips, 1);
  // The changed file is read as usual, and then confirmed like the others.
  t.is(fromUtf8((await a.retrieve(caps[3])).plaintext), 'file 3 v2');
  t.true((await a.confirmMany([caps[3]])).confirmed.has(caps[3]));
});

test('servers without the extension: read-many is refused with ERR_SERVER_UNSUPPORTED and nothing is confirmed', async (t) => {
  const a = await cachedClient(t, plainGrid);
  const cap = (await a.create(utf8('on plain servers'))).cap;
  const server = plainGrid.clients()[0];
  t.teardown(() => server.close());
  const error = await t.throwsAsync(
    server.readMany([{ storageIndex: new Uint8Array(16), shareNumber: 0 }], 57),
    { instanceOf: ServerUnsupportedError },
  );
  t.is(error?.code, 'ERR_SERVER_UNSUPPORTED');
  const { confirmed } = await a.confirmMany([cap]);
  t.is(confirmed.size, 0);
  t.is(fromUtf8((await a.retrieve(cap)).plaintext), 'on plain servers');
});

test('read-many answers null for shares a server does not hold, and bytes up to the length asked', async (t) => {
  const a = await cachedClient(t, grid);
  const cap = (await a.create(utf8('some contents'))).cap;
  const [server] = grid.clients();
  t.teardown(() => server.close());
  const si = (await import('../caps/index.js')).parseCap(cap);
  if (si.kind !== 'ssk-write') throw new Error('expected a write cap');
  const shares = await server.listShares(si.storageIndex);
  const answers = await server.readMany(
    [
      { storageIndex: si.storageIndex, shareNumber: shares[0] },
      { storageIndex: new Uint8Array(16).fill(7), shareNumber: 0 },
    ],
    10,
  );
  t.is(answers[0]?.length, 10);
  t.deepEqual(answers[0], await server.readShare(si.storageIndex, shares[0], 0, 10));
  t.is(answers[1], null);
});

test('malformed read-many requests are refused with a schema error naming the problem', (t) => {
  const si = new Uint8Array(16);
  t.deepEqual(
    decodeReadManyRequest(encodeReadManyRequest(57, [{ storageIndex: si, shareNumber: 3 }])),
    {
      length: 57,
      reads: [{ storageIndex: si, shareNumber: 3 }],
    },
  );
  const bad = (value: unknown, message: RegExp) => {
    const error = t.throws(() => decodeReadManyRequest(encode(value)), {
      instanceOf: ProtocolError,
    });
    t.is(error?.code, 'ERR_PROTOCOL_SCHEMA');
    t.regex(error?.message ?? '', message);
  };
  bad([57], /expected \[length, reads\]/);
  bad([0, []], /must be 1…1024/);
  bad([2000, []], /must be 1…1024/);
  bad([57, [[new Uint8Array(15), 0]]], /16 bytes/);
  bad([57, [[si, 256]]], /> 255/);
  bad([57, [[si]]], /expected \[storage index, share number\]/);
  bad([57, Array.from({ length: 4097 }, () => [si, 0])], /at most 4096/);
});
