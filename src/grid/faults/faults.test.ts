// The fault wrappers: with no fault active they pass the StorageClient compliance suite
// (around the in-memory reference and around the HTTP client talking to a real server);
// each fault fails or changes calls exactly as documented.
import test from 'ava';
import { randomBytes } from 'node:crypto';
import { writeCapFromKeyPair, formatCap } from '../../caps/index.js';
import { generateRsaKeyPair } from '../../crypto/rsa.js';
import { buildShares } from '../../sdmf/build.js';
import { decryptPrivateKey } from '../../sdmf/private-key.js';
import { verifyShare } from '../../sdmf/verify.js';
import { StorageClientError } from '../errors.js';
import { startRealServers } from '../test-support/real-servers.js';
import { HttpStorageClient } from '../http-client.js';
import { measureOperation } from '../request-events.js';
import type { SlotSecrets, TestWriteVectors } from '../storage-client.js';
import { runStorageClientCompliance } from '../test-support/compliance.js';
import { MemoryStorageClient, MemoryStorageServer } from '../test-support/memory-client.js';
import { FaultGrid, FaultyStorageClient, SHARE_FIELDS, shareFieldRange } from './index.js';

const rand = (n: number) => new Uint8Array(randomBytes(n));
const memory = () => new MemoryStorageClient(new MemoryStorageServer(rand(20)));
const secrets = (): SlotSecrets => ({
  writeEnabler: rand(32),
  leaseRenewSecret: rand(32),
  leaseCancelSecret: rand(32),
});
const write = (data: Uint8Array, test: TestWriteVectors['test'] = []): TestWriteVectors => ({
  test,
  write: [{ offset: 0, data }],
  newLength: null,
});

// --- compliance, no fault active -----------------------------------------------------------

runStorageClientCompliance(test, async () => ({ client: new FaultyStorageClient(memory()) }), {
  title: 'faulty(memory), no fault',
});

runStorageClientCompliance(
  test,
  async () => ({
    // A rule for some other slot must not touch the slots the suite uses.
    client: new FaultyStorageClient(memory()).set({
      fault: { kind: 'down' },
      storageIndex: rand(16),
    }),
  }),
  { title: 'faulty(memory), fault on another slot' },
);

const real = startRealServers(test, [{ name: 'real', timeoutMs: 120_000 }]);

runStorageClientCompliance(
  test,
  async () => ({ client: new FaultyStorageClient(new HttpStorageClient((await real)[0]!)) }),
  { title: 'faulty(http, real server), no fault' },
);

// --- transport faults ----------------------------------------------------------------------

async function withShare() {
  const inner = memory();
  const client = new FaultyStorageClient(inner, { record: true, timeoutMs: 50 });
  const si = rand(16);
  const s = secrets();
  const data = rand(200);
  await client.readTestWrite(si, s, new Map([[0, write(data)]]), []);
  return { inner, client, si, s, data };
}

test('down: refused with ERR_SERVER_UNREACHABLE before anything is written', async (t) => {
  const { client, inner, si, s, data } = await withShare();
  client.set({ kind: 'down' });
  const { cost } = await measureOperation(async () => {
    const err = await t.throwsAsync(
      client.readTestWrite(si, s, new Map([[0, write(rand(5))]]), []),
      {
        instanceOf: StorageClientError,
      },
    );
    t.is(err?.code, 'ERR_SERVER_UNREACHABLE');
    t.is(err?.serverName, client.name);
  });
  t.is(cost.requests, 1, 'the failed call is published like a real request');
  t.is(cost.failures, 1);
  t.deepEqual(await inner.readShare(si, 0, 0, 200), data, 'nothing written');
  await t.throwsAsync(client.listShares(si), { message: /ECONNREFUSED/ });
  client.clear();
  t.deepEqual(await client.listShares(si), [0]);
});

test('stall: no answer until the timeout, then ERR_SERVER_TIMEOUT; an abort ends it early', async (t) => {
  const { client, si } = await withShare();
  client.set({ kind: 'stall', ms: 150 });
  const started = performance.now();
  const err = await t.throwsAsync(client.readShare(si, 0, 0, 10), {
    instanceOf: StorageClientError,
  });
  t.is(err?.code, 'ERR_SERVER_TIMEOUT');
  t.true(performance.now() - started >= 140);
  const abort = new AbortController();
  setTimeout(() => abort.abort(), 10);
  const aborted = await t.throwsAsync(client.readShare(si, 0, 0, 10, { signal: abort.signal }), {
    instanceOf: StorageClientError,
  });
  t.is(aborted?.code, 'ERR_REQUEST_ABORTED');
  // The wrapper's default delay stands for the client's timeout.
  client.set({ kind: 'stall' });
  const d = await t.throwsAsync(client.listShares(si), { instanceOf: StorageClientError });
  t.regex(d?.message ?? '', /within 50 ms/);
});

test('http-error and malformed-response before or after the server did the work', async (t) => {
  const { client, inner, si, s } = await withShare();
  client.set({ kind: 'http-error', status: 503 });
  const before = await t.throwsAsync(
    client.readTestWrite(si, s, new Map([[1, write(rand(9))]]), []),
    {
      instanceOf: StorageClientError,
    },
  );
  t.is(before?.code, 'ERR_SERVER_HTTP_STATUS');
  t.regex(before?.message ?? '', /503/);
  t.deepEqual(await inner.listShares(si), [0]);
  client.set({ kind: 'malformed-response', after: true });
  const after = await t.throwsAsync(
    client.readTestWrite(si, s, new Map([[1, write(rand(9))]]), []),
    {
      instanceOf: StorageClientError,
    },
  );
  t.is(after?.code, 'ERR_SERVER_BAD_RESPONSE');
  t.deepEqual(await inner.listShares(si), [0, 1], 'the write happened; only the answer was lost');
});

test('close-connection: the server writes, the answer is cut off as ERR_SERVER_UNREACHABLE', async (t) => {
  const { client, inner, si, s } = await withShare();
  client.set({ kind: 'close-connection' });
  const err = await t.throwsAsync(client.readTestWrite(si, s, new Map([[2, write(rand(9))]]), []), {
    instanceOf: StorageClientError,
  });
  t.is(err?.code, 'ERR_SERVER_UNREACHABLE');
  t.regex(err?.message ?? '', /other side closed/);
  t.deepEqual(await inner.listShares(si), [0, 2]);
});

test('throw: a plain exception, not a StorageClientError', async (t) => {
  const { client, si } = await withShare();
  client.set({ kind: 'throw' });
  const err = await t.throwsAsync(client.listShares(si));
  t.false(err instanceof StorageClientError);
  t.true(err instanceof TypeError);
});

test('rules: ops, writesOnly, storageIndex and times select the calls a fault hits', async (t) => {
  const { client, si, s } = await withShare();
  client.set({ fault: { kind: 'down' }, writesOnly: true, times: 2 });
  t.deepEqual(await client.listShares(si), [0], 'reads pass');
  t.true((await client.readTestWrite(si, s, new Map(), [{ offset: 0, size: 4 }])).success);
  for (let i = 0; i < 2; i++) {
    await t.throwsAsync(client.readTestWrite(si, s, new Map([[3, write(rand(4))]]), []));
  }
  t.true((await client.readTestWrite(si, s, new Map([[3, write(rand(4))]]), [])).success);
  t.is(client.activeFaults.length, 0, 'the rule removed itself after two uses');
  client.set({ fault: { kind: 'down' }, ops: ['readShare'], storageIndex: si });
  t.deepEqual(await client.listShares(si), [0, 3]);
  await t.throwsAsync(client.readShare(si, 0, 0, 1));
  t.is(await client.readShare(rand(16), 0, 0, 1), null, 'another slot is unaffected');
  const log = client.calls.map((c) => `${c.op}:${c.outcome}${c.fault ? `:${c.fault}` : ''}`);
  t.true(log.includes('readTestWrite:ERR_SERVER_UNREACHABLE:down'), log.join(' '));
});

test('a gate runs before each forwarded call and can hold it; `after` sees each outcome', async (t) => {
  const { client, si } = await withShare();
  const seen: string[] = [];
  let release!: () => void;
  const held = new Promise<void>((r) => (release = r));
  client.gate = async (call) => {
    seen.push(call.op);
    if (call.op === 'readShare') await held;
  };
  let done = false;
  const read = client.readShare(si, 0, 0, 5).then((b) => ((done = true), b));
  await new Promise((r) => setTimeout(r, 20));
  t.false(done);
  release();
  t.is((await read)?.length, 5);
  t.deepEqual(seen, ['readShare']);
  const outcomes: string[] = [];
  client.after = (call, outcome) => outcomes.push(`${call.op}:${outcome}`);
  client.set({ fault: { kind: 'down' }, ops: ['listShares'] });
  await client.readShare(si, 0, 0, 1);
  await t.throwsAsync(client.listShares(si));
  t.deepEqual(outcomes, ['readShare:ok', 'listShares:ERR_SERVER_UNREACHABLE']);
});

// --- data faults ---------------------------------------------------------------------------

const keysPromise = generateRsaKeyPair();

test('corrupt: exactly one byte of the chosen field changes, in every read path', async (t) => {
  const keys = await keysPromise;
  const cap = formatCap(writeCapFromKeyPair(keys, { directory: false }));
  const version = buildShares(rand(3000), keys, 4, 3, 5);
  const inner = memory();
  const client = new FaultyStorageClient(inner);
  const si = rand(16);
  const s = secrets();
  await inner.readTestWrite(si, s, new Map(version.shares.map((b, i) => [i, write(b)])), []);
  const share = version.shares[2];
  for (const field of SHARE_FIELDS) {
    const [start, end] = shareFieldRange(share, field);
    t.true(end > start, field);
    client.set({ kind: 'corrupt', field, shares: [2] });
    const whole = (await client.readShare(si, 2, 0, share.length))!;
    const diff = [...whole.keys()].filter((i) => whole[i] !== share[i]);
    t.is(diff.length, 1, field);
    t.true(diff[0] >= start && diff[0] < end, `${field}: byte ${diff[0]} in [${start}, ${end})`);
    // The key is not covered by the signature: it is checked by decrypting it instead.
    const check = () =>
      field === 'encryptedPrivateKey' ? decryptPrivateKey(whole, cap) : verifyShare(whole, cap, 2);
    t.throws(check, undefined, `${field} corrupt must not verify`);
    // The same byte through a partial read, a read-test-write and a read from the end.
    const from = Math.max(0, diff[0] - 5);
    const part = (await client.readShare(si, 2, from, 10))!;
    t.is(part[diff[0] - from], whole[diff[0]], field);
    const rtw = await client.readTestWrite(si, s, new Map(), [
      { offset: 0, size: share.length },
      { offset: -(share.length - from), size: 10 },
    ]);
    t.deepEqual(rtw.data.get(2)?.[0], whole);
    t.deepEqual(rtw.data.get(2)?.[1], part);
    t.deepEqual(rtw.data.get(1)?.[0], version.shares[1], 'other shares untouched');
  }
  client.clear();
  t.deepEqual(await client.readShare(si, 2, 0, share.length), share);
});

test('stale: a snapshot answers reads and takes writes while the fault is set', async (t) => {
  const { client, inner, si, s, data } = await withShare();
  await client.snapshot(si);
  const newer = rand(200);
  await client.readTestWrite(si, s, new Map([[0, write(newer)]]), []);
  client.set({ kind: 'stale' });
  t.deepEqual(await client.readShare(si, 0, 0, 200), data, 'old contents served');
  const rtw = await client.readTestWrite(si, s, new Map(), [{ offset: -10, size: 10 }]);
  t.deepEqual(rtw.data.get(0)?.[0], data.subarray(190));
  // A test against the newest contents fails on the stale copy; against the old one passes.
  const failed = await client.readTestWrite(
    si,
    s,
    new Map([[0, write(rand(200), [{ offset: 0, size: 200, specimen: newer }])]]),
    [],
  );
  t.false(failed.success);
  const forked = rand(50);
  const ok = await client.readTestWrite(
    si,
    s,
    new Map([
      [0, { ...write(forked, [{ offset: 0, size: 200, specimen: data }]), newLength: 50 }],
      [5, write(forked)],
    ]),
    [],
  );
  t.true(ok.success);
  t.deepEqual(await client.listShares(si), [0, 5]);
  t.deepEqual(await client.readShare(si, 0, 0, 500), forked);
  t.deepEqual(await inner.readShare(si, 0, 0, 500), newer, 'the real server is unchanged');
  client.clear();
  t.deepEqual(await client.listShares(si), [0]);
  t.deepEqual(await client.readShare(si, 0, 0, 500), newer);
});

test('drop-writes: success is reported, nothing is tested or written', async (t) => {
  const { client, inner, si, s, data } = await withShare();
  client.set({ kind: 'drop-writes' });
  const answer = await client.readTestWrite(
    si,
    s,
    new Map([[0, write(rand(200), [{ offset: 0, size: 3, specimen: rand(3) }])]]),
    [{ offset: 0, size: 4 }],
  );
  t.true(answer.success, 'even a failing test reports success');
  t.deepEqual(answer.data.get(0)?.[0], data.subarray(0, 4));
  t.deepEqual(await inner.readShare(si, 0, 0, 200), data);
  t.deepEqual(await inner.listShares(si), [0]);
});

test('FaultGrid addresses wrappers by position, name or client', (t) => {
  const servers = [memory(), memory()];
  const grid = new FaultGrid(servers);
  t.is(grid.server(1).inner, servers[1]);
  t.is(grid.server(servers[0].name).inner, servers[0]);
  t.is(grid.server(grid.clients[1]), grid.clients[1]);
  t.throws(() => grid.server('nope'), { instanceOf: RangeError });
});
