// §9.2 slot semantics, exercised over HTTP against a real `slotfs server` process.
import test from 'ava';
import { randomBytes } from 'node:crypto';
import { existsSync, promises as fs, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { toBase32 } from '../encoding/base32.js';
import { LEASE_DURATION_SECONDS, MutableContainer } from './container.js';
import { secretsFor, RawClient, tw } from './test-support/raw-client.js';
import { spawnServer, type ServerProcess } from './test-support/server-process.js';

let dir: string;
let server: ServerProcess;
let client: RawClient;
const enc = (s: string) => new TextEncoder().encode(s);
const txt = (b: Uint8Array | undefined) => (b ? Buffer.from(b).toString('latin1') : undefined);
const newSi = () => toBase32(randomBytes(16));
const S = secretsFor(1);

function container(si: string, shnum: number): MutableContainer {
  return MutableContainer.parse(
    readFileSync(path.join(dir, 'shares', si.slice(0, 2), si, String(shnum))),
  );
}

test.before(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'slotfs-sem-'));
  server = await spawnServer(dir);
  client = new RawClient(server.parsed);
});

test.after.always(async () => {
  await client?.close();
  await server?.stop();
  await fs.rm(dir, { recursive: true, force: true });
});

test('create: "must not exist" test, write, then the share reads back', async (t) => {
  const si = newSi();
  const r = await client.rtw(
    si,
    tw([[3, { test: [[0, 1, new Uint8Array()]], write: [[0, enc('hello world')]] }]], [[0, 5]]),
    S,
  );
  t.true(r.success);
  t.is(r.data.size, 0, 'reads happen before the write: no share existed');
  t.is(txt(await client.share(si, 3)), 'hello world');
  t.deepEqual(await client.shares(si), [3]);
  // The same "must not exist" test now fails, and the reads show what is there.
  const again = await client.rtw(
    si,
    tw([[3, { test: [[0, 1, new Uint8Array()]], write: [[0, enc('XXXXX')]] }]], [[0, 5]]),
    S,
  );
  t.false(again.success);
  t.deepEqual([...again.data.keys()], [3]);
  t.is(txt(again.data.get(3)![0]), 'hello');
  t.is(txt(await client.share(si, 3)), 'hello world');
  const c = container(si, 3);
  t.deepEqual(c.writeEnabler, S.writeEnabler);
  t.is(toBase32(c.nodeId), JSON.parse(readFileSync(path.join(dir, 'node.json'), 'utf8')).nodeId);
});

test('writes extend the share; a gap and an empty write past the end are zero-filled', async (t) => {
  const si = newSi();
  await client.rtw(si, tw([[0, { write: [[0, enc('abc')]] }]]), S);
  await client.rtw(si, tw([[0, { write: [[6, enc('xyz')]] }]]), S);
  t.is(txt(await client.share(si, 0)), 'abc\0\0\0xyz');
  await client.rtw(si, tw([[0, { write: [[12, new Uint8Array()]] }]]), S);
  t.is(txt(await client.share(si, 0)), 'abc\0\0\0xyz\0\0\0');
  // Writes apply in order: a later vector overwrites an earlier one.
  await client.rtw(
    si,
    tw([
      [
        0,
        {
          write: [
            [1, enc('QQ')],
            [2, enc('R')],
          ],
        },
      ],
    ]),
    S,
  );
  t.is(txt(await client.share(si, 0)), 'aQR\0\0\0xyz\0\0\0');
});

test('new-length truncates, larger values are ignored, and a write may follow a truncation', async (t) => {
  const si = newSi();
  await client.rtw(si, tw([[1, { write: [[0, enc('0123456789')]] }]]), S);
  await client.rtw(si, tw([[1, { newLength: 4 }]]), S);
  t.is(txt(await client.share(si, 1)), '0123');
  await client.rtw(si, tw([[1, { newLength: 100 }]]), S);
  t.is(txt(await client.share(si, 1)), '0123', 'new-length never extends');
  // Writes first, then the truncation, within one request.
  await client.rtw(si, tw([[1, { write: [[4, enc('abcdef')]], newLength: 6 }]]), S);
  t.is(txt(await client.share(si, 1)), '0123ab');
  // Stale bytes past a truncation never reappear: extension zero-fills them.
  await client.rtw(si, tw([[1, { newLength: 2 }]]), S);
  await client.rtw(si, tw([[1, { write: [[8, enc('!')]] }]]), S);
  t.is(txt(await client.share(si, 1)), '01\0\0\0\0\0\0!');
});

test('new-length 0 deletes the share (its writes are ignored) and the empty bucket', async (t) => {
  const si = newSi();
  await client.rtw(si, tw([[2, { write: [[0, enc('data')]] }]]), S);
  const bucket = path.join(dir, 'shares', si.slice(0, 2), si);
  t.true(existsSync(bucket));
  const r = await client.rtw(
    si,
    tw([[2, { write: [[0, enc('ignored')]], newLength: 0 }]], [[0, 4]]),
    S,
  );
  t.true(r.success);
  t.is(txt(r.data.get(2)![0]), 'data');
  t.is(await client.share(si, 2), undefined);
  t.deepEqual(await client.shares(si), []);
  t.false(existsSync(bucket), 'bucket directory removed');
  // Deleting a share that does not exist creates nothing.
  const none = await client.rtw(si, tw([[7, { write: [[0, enc('x')]], newLength: 0 }]]), S);
  t.true(none.success);
  t.deepEqual(await client.shares(si), []);
  t.false(existsSync(bucket));
});

test('one failing test aborts the writes to every share of the request', async (t) => {
  const si = newSi();
  await client.rtw(
    si,
    tw([
      [0, { write: [[0, enc('zero')]] }],
      [1, { write: [[0, enc('one')]] }],
    ]),
    S,
  );
  const r = await client.rtw(
    si,
    tw([
      [0, { test: [[0, 4, enc('zero')]], write: [[0, enc('ZERO')]] }], // passes
      [1, { test: [[0, 3, enc('two')]], write: [[0, enc('ONE')]] }], // fails
      [5, { write: [[0, enc('five')]] }], // would be created
    ]),
    S,
  );
  t.false(r.success);
  t.is(txt(await client.share(si, 0)), 'zero');
  t.is(txt(await client.share(si, 1)), 'one');
  t.deepEqual(await client.shares(si), [0, 1]);
});

test('read vectors cover every share present, read before the writes, truncated at the end', async (t) => {
  const si = newSi();
  await client.rtw(
    si,
    tw([
      [0, { write: [[0, enc('share-zero')]] }],
      [4, { write: [[0, enc('four')]] }],
      [9, { write: [[0, enc('nine!')]] }],
    ]),
    S,
  );
  const r = await client.rtw(
    si,
    tw(
      [[4, { write: [[0, enc('FOUR')]] }]],
      [
        [0, 5],
        [3, 100],
        [50, 2],
      ],
    ),
    S,
  );
  t.true(r.success);
  t.deepEqual([...r.data.keys()].sort(), [0, 4, 9]);
  t.deepEqual(r.data.get(0)!.map(txt), ['share', 're-zero', '']);
  t.deepEqual(r.data.get(4)!.map(txt), ['four', 'r', ''], 'pre-write contents');
  t.deepEqual(r.data.get(9)!.map(txt), ['nine!', 'e!', '']);
  t.is(txt(await client.share(si, 4)), 'FOUR');
  // An empty read vector gives an empty list per share; an empty request changes nothing.
  const before = container(si, 0).toBytes();
  const empty = await client.rtw(si, tw([]), S);
  t.true(empty.success);
  t.deepEqual(
    [...empty.data.entries()].map(([k, v]) => [k, v.length]),
    [
      [0, 0],
      [4, 0],
      [9, 0],
    ],
  );
  t.deepEqual(container(si, 0).toBytes(), before, 'no lease touched by an empty request');
});

test('a named share with empty vectors is created empty; (0,1,"") passes on an empty share', async (t) => {
  const si = newSi();
  const r = await client.rtw(si, tw([[6, {}]]), S);
  t.true(r.success);
  t.deepEqual(await client.shares(si), [6]);
  t.is((await client.share(si, 6))!.length, 0);
  const again = await client.rtw(
    si,
    tw([[6, { test: [[0, 1, new Uint8Array()]], write: [[0, enc('x')]] }]]),
    S,
  );
  t.true(again.success, 'an existing but empty share passes "must not exist"');
  t.is(txt(await client.share(si, 6)), 'x');
});

test('write-enabler mismatch on any existing share: 401 naming the nodeid, nothing read or written', async (t) => {
  const si = newSi();
  await client.rtw(si, tw([[0, { write: [[0, enc('mine')]] }]]), S);
  const other = secretsFor(50);
  const res = await client.rtwRaw(si, tw([[1, { write: [[0, enc('theirs')]] }]], [[0, 4]]), other);
  t.is(res.status, 401);
  t.is(res.headers['x-slotfs-error-code'], 'ERR_STORAGE_WRITE_ENABLER');
  const nodeId = JSON.parse(readFileSync(path.join(dir, 'node.json'), 'utf8')).nodeId as string;
  t.is(res.text, `The write enabler was recorded by nodeid '${nodeId}'.`);
  t.deepEqual(await client.shares(si), [0]);
  // A slot with no shares accepts any write enabler, which is then recorded.
  const si2 = newSi();
  t.true((await client.rtw(si2, tw([[0, { write: [[0, enc('a')]] }]]), other)).success);
  t.deepEqual(container(si2, 0).writeEnabler, other.writeEnabler);
});

test('leases: added on write, renewed by the same secret, a new secret adds one; PUT lease', async (t) => {
  const si = newSi();
  const t0 = Math.floor(Date.now() / 1000);
  await client.rtw(si, tw([[0, { write: [[0, enc('x')]] }]]), S);
  let leases = container(si, 0).leases();
  t.is(leases.length, 1);
  t.is(leases[0].ownerNumber, 1);
  t.true(Math.abs(leases[0].expirationTime - (t0 + LEASE_DURATION_SECONDS)) <= 5);
  t.is(toBase32(leases[0].nodeId), toBase32(container(si, 0).nodeId));
  await client.rtw(si, tw([[0, {}]]), S);
  t.is(container(si, 0).leases().length, 1, 'same renew secret renews');
  // Five more clients: four fill slots 1..3, the fifth goes to the extra-lease block.
  for (let i = 0; i < 5; i++) {
    const s = { ...S, leaseRenewSecret: randomBytes(32), leaseCancelSecret: randomBytes(32) };
    await client.rtw(si, tw([[0, {}]]), s);
  }
  leases = container(si, 0).leases();
  t.deepEqual(
    leases.map((l) => l.index),
    [0, 1, 2, 3, 4, 5],
  );
  // Lease PUT on the slot.
  const put = await client.raw('PUT', `/storage/v1/lease/${si}`, {
    headers: {
      'x-tahoe-authorization': [
        `lease-renew-secret ${Buffer.from(randomBytes(32)).toString('base64')}`,
        `lease-cancel-secret ${Buffer.from(randomBytes(32)).toString('base64')}`,
      ],
    },
  });
  t.is(put.status, 204);
  t.is(container(si, 0).leases().length, 7);
  t.is(txt(await client.share(si, 0)), 'x', 'leases never disturb the data');
});

test('the read-from-end extension: negative read offsets count from the data end', async (t) => {
  const v = await client.version(true);
  t.true(v.slotfs?.readFromEnd);
  t.is(v.slotfs?.nodeId.length, 20);
  t.is((await client.version(false)).slotfs, undefined, 'not sent unless asked for');
  const si = newSi();
  const data = randomBytes(3000);
  await client.rtw(si, tw([[0, { write: [[0, data]] }]]), S);
  const r = await client.rtw(
    si,
    tw(
      [],
      [
        [-1300, 1300],
        [-10, 4],
        [-5000, 5000],
        [-5000, 100],
      ],
    ),
    S,
  );
  const [last, mid, all, before] = r.data.get(0)!;
  t.deepEqual(Buffer.from(last), data.subarray(1700));
  t.deepEqual(Buffer.from(mid), data.subarray(2990, 2994));
  t.deepEqual(Buffer.from(all), data, 'clipped at the start');
  t.is(before.length, 0, 'entirely before the start');
});

test('concurrent read-test-writes on one slot serialise: one winner per round, no lost update', async (t) => {
  const si = newSi();
  const counter = (n: number) => {
    const b = Buffer.alloc(8);
    b.writeBigUInt64BE(BigInt(n));
    return new Uint8Array(b);
  };
  await client.rtw(si, tw([[0, { write: [[0, counter(0)]] }]]), S);
  for (let round = 0; round < 4; round++) {
    const seen = counter(round);
    const results = await Promise.all(
      Array.from({ length: 50 }, () =>
        client.rtw(si, tw([[0, { test: [[0, 8, seen]], write: [[0, counter(round + 1)]] }]]), S),
      ),
    );
    t.is(results.filter((r) => r.success).length, 1, `round ${round}: exactly one winner`);
    t.deepEqual(await client.share(si, 0), counter(round + 1));
  }
  // Free-for-all: 10 writers each retry test-and-set increments until 3 succeed.
  const start = 4;
  await Promise.all(
    Array.from({ length: 10 }, async () => {
      let wins = 0;
      while (wins < 3) {
        const cur = (await client.rtw(si, tw([], [[0, 8]]), S)).data.get(0)![0];
        const next = Number(Buffer.from(cur).readBigUInt64BE()) + 1;
        const r = await client.rtw(
          si,
          tw([[0, { test: [[0, 8, cur]], write: [[0, counter(next)]] }]]),
          S,
        );
        if (r.success) wins++;
      }
    }),
  );
  t.is(Number(Buffer.from((await client.share(si, 0))!).readBigUInt64BE()), start + 30);
});

test('a write to a new slot whose test fails leaves no bucket, nor a prefix it made', async (t) => {
  // A storage index whose two-letter prefix no other test has made.
  let si = newSi();
  while (existsSync(path.join(dir, 'shares', si.slice(0, 2)))) si = newSi();
  const r = await client.rtw(
    si,
    tw([[0, { test: [[0, 1, enc('x')]], write: [[0, enc('new')]] }]]),
    S,
  );
  t.false(r.success);
  t.deepEqual(await client.shares(si), []);
  t.false(existsSync(path.join(dir, 'shares', si.slice(0, 2), si)), 'no bucket left');
  t.false(existsSync(path.join(dir, 'shares', si.slice(0, 2))), 'no prefix left');
  // A share too large for the server: refused, and nothing left either.
  const big = await client.rtwRaw(
    si,
    tw([
      [0, { write: [[0, new Uint8Array(1)]] }],
      [1, { write: [[2 ** 40, enc('x')]] }],
    ]),
    S,
  );
  t.is(big.status, 413);
  t.false(existsSync(path.join(dir, 'shares', si.slice(0, 2), si)), 'no bucket left');
});

test('a bucket removed behind the server is made again by the next write', async (t) => {
  const si = newSi();
  const first = await client.rtw(si, tw([[0, { write: [[0, enc('one')]] }]]), S);
  t.true(first.success);
  // Gone while the server runs (an operator clean-up): the server last saw it exist.
  await fs.rm(path.join(dir, 'shares', si.slice(0, 2), si), { recursive: true });
  const again = await client.rtw(
    si,
    tw([[0, { test: [[0, 1, new Uint8Array()]], write: [[0, enc('two')]] }]]),
    S,
  );
  t.true(again.success);
  t.is(txt(await client.share(si, 0)), 'two');
});
