// The StorageClient compliance suite, in the style of abstract-level: every implementation
// (the HTTP client against a real server, the in-memory reference, and the fault-injection
// wrappers in pass-through mode) runs the same tests through the public interface. It
// covers every method and every rule of tahoe-formats.md §9.2.
//
//   import test from 'ava';
//   runStorageClientCompliance(test, async () => ({ client, cleanup }));
//
// `makeClient` is called once per test; the tests use fresh random storage indexes, so
// one server may back all of them and the tests may run concurrently.
import { randomBytes } from 'node:crypto';
import type { ExecutionContext, FailingFn, TestFn } from 'ava';
import { concatBytes, utf8 } from '../../encoding/bytes.js';
import {
  StorageClientError,
  type ServerHttpStatusError,
  type StorageClientErrorCode,
} from '../errors.js';
import { measureOperation } from '../request-events.js';
import type {
  ReadVector,
  SlotSecrets,
  StorageClient,
  TestWriteVectors,
  UploadSecrets,
} from '../storage-client.js';

export interface ClientUnderTest {
  client: StorageClient;
  /** A second client of the same server (a different uploader/reader); default: `client`. */
  peer?: () => StorageClient;
  cleanup?: () => Promise<void>;
}

export interface ComplianceOptions {
  /** Prefix of every test title (default 'StorageClient'). */
  title?: string;
  /** Titles (without prefix) of tests to skip, e.g. for wrappers that cannot support one. */
  skip?: readonly string[];
  /** Run only these titles (e.g. to show that a deliberately broken client fails them). */
  only?: readonly string[];
  /** Concurrent writers in the serialisation tests (default 12). */
  concurrency?: number;
}

type Ctx = ExecutionContext<unknown>;

const rand = (n: number) => new Uint8Array(randomBytes(n));
const newSi = () => rand(16);
const newSecrets = (): SlotSecrets => ({
  writeEnabler: rand(32),
  leaseRenewSecret: rand(32),
  leaseCancelSecret: rand(32),
});
const bytes = (text: string) => utf8(text);
const hex = (b: Uint8Array | null | undefined) =>
  b === null ? 'null' : b === undefined ? 'undefined' : Buffer.from(b).toString('hex');

/** `test-write` vectors for one share: optional tests, writes, new length. */
function tw(
  write: Array<[number, Uint8Array]> = [],
  test: Array<[number, number, Uint8Array]> = [],
  newLength: number | null = null,
): TestWriteVectors {
  return {
    test: test.map(([offset, size, specimen]) => ({ offset, size, specimen })),
    write: write.map(([offset, data]) => ({ offset, data })),
    newLength,
  };
}

const MUST_NOT_EXIST: [number, number, Uint8Array] = [0, 1, new Uint8Array(0)];
const rv = (...pairs: Array<[number, number]>): ReadVector[] =>
  pairs.map(([offset, size]) => ({ offset, size }));

async function rejectsWith(
  t: Ctx,
  promise: Promise<unknown>,
  code: StorageClientErrorCode,
  client: StorageClient,
): Promise<StorageClientError | undefined> {
  const err = await t.throwsAsync(promise, { instanceOf: StorageClientError });
  t.is(err?.code, code, err?.message);
  t.deepEqual(err?.serverId, client.serverId);
  t.is(err?.serverName, client.name);
  return err;
}

/** As rejectsWith, for an HTTP status error with this status. */
async function rejectsWithStatus(
  t: Ctx,
  promise: Promise<unknown>,
  status: number,
  client: StorageClient,
): Promise<void> {
  const err = await rejectsWith(t, promise, 'ERR_SERVER_HTTP_STATUS', client);
  t.is((err as ServerHttpStatusError | undefined)?.status, status);
}

/** Current data of every share of a slot, via readShare (independent of read vectors). */
async function snapshot(client: StorageClient, si: Uint8Array): Promise<Record<number, string>> {
  const out: Record<number, string> = {};
  for (const shnum of await client.listShares(si)) {
    out[shnum] = hex(await client.readShare(si, shnum, 0, 1 << 24));
  }
  return out;
}

export function runStorageClientCompliance(
  test: TestFn | FailingFn,
  makeClient: () => Promise<ClientUnderTest>,
  options: ComplianceOptions = {},
): void {
  const prefix = options.title ?? 'StorageClient';
  const concurrency = options.concurrency ?? 12;
  const skip = new Set(options.skip ?? []);

  const define = (
    title: string,
    body: (t: Ctx, client: StorageClient, peer: StorageClient) => Promise<void>,
  ) => {
    const full = `${prefix}: ${title}`;
    if (options.only && !options.only.includes(title)) return;
    if (skip.has(title)) {
      test.skip(full, () => {});
      return;
    }
    test(full, async (t) => {
      const { client, cleanup, peer: makePeer } = await makeClient();
      const peer = makePeer?.() ?? client;
      t.teardown(async () => {
        await client.close();
        await peer.close();
        await cleanup?.();
      });
      await body(t, client, peer);
    });
  };

  define('identity: 20-byte server id, permutation seed and name', async (t, client) => {
    t.true(client.serverId instanceof Uint8Array);
    t.is(client.serverId.length, 20);
    t.true(client.permutationSeed instanceof Uint8Array && client.permutationSeed.length > 0);
    t.true(typeof client.name === 'string' && client.name.length > 0);
  });

  define('getVersion reports limits and extensions, and is cached', async (t, client) => {
    const v = await client.getVersion();
    t.true(Number.isSafeInteger(v.maximumMutableShareSize) && v.maximumMutableShareSize > 0);
    t.true(Number.isSafeInteger(v.availableSpace) && v.availableSpace >= 0);
    t.true(Number.isSafeInteger(v.maximumImmutableShareSize));
    t.is(typeof v.applicationVersion, 'string');
    t.is(typeof v.readFromEnd, 'boolean');
    const { result, cost } = await measureOperation(() => client.getVersion());
    t.deepEqual(result, v);
    t.is(cost.requests, 0, 'a second getVersion is answered from the cache');
    const refreshed = await client.getVersion({ refresh: true });
    t.is(refreshed.maximumMutableShareSize, v.maximumMutableShareSize);
  });

  define('an unknown slot has no shares, and a read-only request creates none', async (t, c) => {
    const si = newSi();
    t.deepEqual(await c.listShares(si), []);
    t.is(await c.readShare(si, 0, 0, 10), null);
    t.false(await c.addLease(si, rand(32), rand(32)));
    t.false(await c.adviseCorrupt(si, 0, 'looks wrong'));
    const res = await c.readTestWrite(si, newSecrets(), new Map(), rv([0, 57]));
    t.true(res.success);
    t.is(res.data.size, 0);
    t.deepEqual(await c.listShares(si), [], '§10.7: empty test-write vectors write nothing');
  });

  define('create a share with the "must not exist" test, then read it back', async (t, c) => {
    const si = newSi();
    const secrets = newSecrets();
    const share = rand(300);
    const first = await c.readTestWrite(
      si,
      secrets,
      new Map([[3, tw([[0, share]], [MUST_NOT_EXIST])]]),
      rv([0, 57]),
    );
    t.true(first.success);
    t.deepEqual([...first.data.keys()], [], 'reads happen before the write');
    t.deepEqual(await c.listShares(si), [3]);
    t.is(hex(await c.readShare(si, 3, 0, 300)), hex(share));
    t.is(hex(await c.readShare(si, 3, 10, 20)), hex(share.subarray(10, 30)));
    const again = await c.readTestWrite(
      si,
      secrets,
      new Map([[3, tw([[0, rand(300)]], [MUST_NOT_EXIST])]]),
      rv([0, 57]),
    );
    t.false(again.success, 'the share exists now');
    t.is(hex(again.data.get(3)?.[0]), hex(share.subarray(0, 57)));
    t.is(hex(await c.readShare(si, 3, 0, 300)), hex(share), 'a failed test writes nothing');
  });

  define('read vectors cover every share of the slot and see pre-write data', async (t, c) => {
    const si = newSi();
    const secrets = newSecrets();
    const shares = [rand(40), rand(40), rand(40)];
    const created = await c.readTestWrite(
      si,
      secrets,
      new Map(shares.map((s, i) => [i, tw([[0, s]], [MUST_NOT_EXIST])])),
      [],
    );
    t.true(created.success);
    t.deepEqual(await c.listShares(si), [0, 1, 2]);
    const replacement = rand(40);
    const res = await c.readTestWrite(
      si,
      secrets,
      new Map([[1, tw([[0, replacement]])]]),
      rv([0, 4], [10, 3]),
    );
    t.true(res.success);
    t.deepEqual([...res.data.keys()].sort(), [0, 1, 2], 'shares not named are read too');
    for (const i of [0, 1, 2]) {
      t.deepEqual(
        res.data.get(i)?.map(hex),
        [hex(shares[i].subarray(0, 4)), hex(shares[i].subarray(10, 13))],
        `share ${i} read before the write`,
      );
    }
    t.is(hex(await c.readShare(si, 1, 0, 40)), hex(replacement));
  });

  define('one failing test aborts every write of the request', async (t, c) => {
    const si = newSi();
    const secrets = newSecrets();
    const a = rand(20);
    const b = rand(20);
    await c.readTestWrite(
      si,
      secrets,
      new Map([
        [0, tw([[0, a]])],
        [1, tw([[0, b]])],
      ]),
      [],
    );
    const before = await snapshot(c, si);
    const res = await c.readTestWrite(
      si,
      secrets,
      new Map([
        [0, tw([[0, rand(20)]], [[0, 20, a]])], // passes
        [1, tw([[0, rand(20)]], [[0, 20, a]])], // fails: share 1 holds b
        [5, tw([[0, rand(20)]], [MUST_NOT_EXIST])], // passes, would create
        [2, tw([], [], 0)],
      ]),
      rv([0, 20]),
    );
    t.false(res.success);
    t.deepEqual(
      [...res.data.entries()].map(([k, v]) => [k, v.map(hex)]).sort(),
      [
        [0, [hex(a)]],
        [1, [hex(b)]],
      ],
      'reads are returned even when the tests fail',
    );
    t.deepEqual(await snapshot(c, si), before, 'nothing was written, created or deleted');
  });

  define('test vectors compare bytes exactly; a missing share reads as empty', async (t, c) => {
    const si = newSi();
    const secrets = newSecrets();
    const data = bytes('0123456789');
    await c.readTestWrite(si, secrets, new Map([[0, tw([[0, data]])]]), []);
    const check = async (test: [number, number, Uint8Array], shnum = 0) =>
      (await c.readTestWrite(si, secrets, new Map([[shnum, tw([], [test])]]), [])).success;
    t.true(await check([0, 10, data]), 'whole data');
    t.true(await check([0, 50, data]), 'a read past the end is truncated before comparing');
    t.true(await check([2, 3, bytes('234')]), 'a slice');
    t.false(await check([2, 3, bytes('235')]), 'one byte differs');
    t.false(await check([0, 11, concatBytes(data, bytes('x'))]), 'specimen longer than data');
    t.false(await check(MUST_NOT_EXIST), '"must not exist" fails on a non-empty share');
    t.true(await check([0, 5, new Uint8Array(0)], 9), 'a missing share is empty');
    t.false(await check([0, 1, bytes('0')], 9), 'a missing share has no bytes');
    t.true(await check([20, 5, new Uint8Array(0)]), 'past the end is empty');
    t.deepEqual(await c.listShares(si), [0, 9], 'share 9, named with a test only, was created');
  });

  define('writes apply in order, extend, and zero-fill gaps', async (t, c) => {
    const si = newSi();
    const secrets = newSecrets();
    await c.readTestWrite(
      si,
      secrets,
      new Map([
        [
          0,
          tw([
            [0, bytes('aaaa')],
            [2, bytes('bb')],
            [6, bytes('xy')],
          ]),
        ],
      ]),
      [],
    );
    t.is(hex(await c.readShare(si, 0, 0, 100)), hex(bytes('aabb\0\0xy')));
    await c.readTestWrite(si, secrets, new Map([[0, tw([[12, new Uint8Array(0)]])]]), []);
    t.is(
      hex(await c.readShare(si, 0, 0, 100)),
      hex(bytes('aabb\0\0xy\0\0\0\0')),
      'an empty write past the end extends the data',
    );
    await c.readTestWrite(si, secrets, new Map([[0, tw([[1, bytes('Z')]])]]), []);
    t.is(hex(await c.readShare(si, 0, 0, 100)), hex(bytes('aZbb\0\0xy\0\0\0\0')), 'overwrite');
  });

  define('new length truncates after the writes, and never extends', async (t, c) => {
    const si = newSi();
    const secrets = newSecrets();
    await c.readTestWrite(si, secrets, new Map([[0, tw([[0, bytes('abcdef')]], [], 3)]]), []);
    t.is(hex(await c.readShare(si, 0, 0, 100)), hex(bytes('abc')));
    await c.readTestWrite(si, secrets, new Map([[0, tw([], [], 100)]]), []);
    t.is(hex(await c.readShare(si, 0, 0, 100)), hex(bytes('abc')), 'a larger length is ignored');
    await c.readTestWrite(si, secrets, new Map([[0, tw([[3, bytes('XYZ')]], [], 4)]]), []);
    t.is(hex(await c.readShare(si, 0, 0, 100)), hex(bytes('abcX')));
  });

  define('new length 0 deletes a share and never creates one', async (t, c) => {
    const si = newSi();
    const secrets = newSecrets();
    await c.readTestWrite(
      si,
      secrets,
      new Map([
        [0, tw([[0, bytes('zero')]])],
        [1, tw([[0, bytes('one')]])],
      ]),
      [],
    );
    const res = await c.readTestWrite(
      si,
      secrets,
      new Map([
        [0, tw([[0, bytes('ignored')]], [], 0)],
        [4, tw([[0, bytes('ignored')]], [], 0)],
      ]),
      rv([0, 10]),
    );
    t.true(res.success);
    t.deepEqual(await c.listShares(si), [1], 'share 0 deleted, share 4 not created');
    t.is(await c.readShare(si, 0, 0, 10), null);
    await c.readTestWrite(si, secrets, new Map([[1, tw([], [], 0)]]), []);
    t.deepEqual(await c.listShares(si), []);
    t.false(await c.addLease(si, rand(32), rand(32)), 'no shares left to lease');
    const other = newSecrets();
    const fresh = await c.readTestWrite(si, other, new Map([[2, tw([[0, bytes('new')]])]]), []);
    t.true(fresh.success, 'a slot with no shares accepts any write enabler');
  });

  define('a named share with empty vectors is created, empty', async (t, c) => {
    const si = newSi();
    const res = await c.readTestWrite(si, newSecrets(), new Map([[7, tw()]]), rv([0, 10]));
    t.true(res.success);
    t.deepEqual(await c.listShares(si), [7]);
    const data = await c.readShare(si, 7, 0, 10);
    t.not(data, null, 'the share exists');
    t.is(data?.length, 0);
  });

  define('a wrong write enabler is refused, and nothing is read or written', async (t, c) => {
    const si = newSi();
    const secrets = newSecrets();
    await c.readTestWrite(si, secrets, new Map([[0, tw([[0, bytes('mine')]])]]), []);
    const intruder = { ...newSecrets(), leaseRenewSecret: secrets.leaseRenewSecret };
    const err = await rejectsWith(
      t,
      c.readTestWrite(si, intruder, new Map([[1, tw([[0, bytes('theirs')]])]]), rv([0, 4])),
      'ERR_WRITE_ENABLER',
      c,
    );
    t.regex(err?.message ?? '', /write enabler/);
    await rejectsWith(
      t,
      c.readTestWrite(si, intruder, new Map(), rv([0, 4])),
      'ERR_WRITE_ENABLER',
      c,
    );
    t.deepEqual(await snapshot(c, si), { 0: hex(bytes('mine')) });
  });

  define('reads are truncated at the data end and empty past it', async (t, c) => {
    const si = newSi();
    const secrets = newSecrets();
    const data = bytes('hello world');
    await c.readTestWrite(si, secrets, new Map([[0, tw([[0, data]])]]), []);
    const res = await c.readTestWrite(si, secrets, new Map(), rv([6, 100], [100, 5], [0, 0]));
    t.deepEqual(res.data.get(0)?.map(hex), [hex(bytes('world')), '', '']);
    t.is(hex(await c.readShare(si, 0, 6, 100)), hex(bytes('world')), 'range clamped');
    t.is(hex(await c.readShare(si, 0, 11, 5)), '', 'range past the end is empty, not absent');
    t.is(hex(await c.readShare(si, 0, 500, 5)), '');
    const empty = await c.readTestWrite(si, secrets, new Map(), []);
    t.deepEqual([...empty.data.entries()], [[0, []]], 'an empty read vector gives [] per share');
  });

  define('read-from-end reads the tail of every share in the same request', async (t, c) => {
    const si = newSi();
    const secrets = newSecrets();
    const shares = [rand(100), rand(30)];
    await c.readTestWrite(si, secrets, new Map(shares.map((s, i) => [i, tw([[0, s]])])), []);
    const version = await c.getVersion();
    const vector = rv([0, 8], [-10, 10], [-50, 50], [-10, 4], [-50, 25], [-200, 10]);
    if (!version.readFromEnd) {
      await rejectsWith(
        t,
        c.readTestWrite(si, secrets, new Map(), vector),
        'ERR_SERVER_UNSUPPORTED',
        c,
      );
      return;
    }
    const { result, cost } = await measureOperation(() =>
      c.readTestWrite(si, secrets, new Map(), vector),
    );
    t.is(cost.requests, 1, 'prefix and tail in one request');
    for (const [i, s] of shares.entries()) {
      t.deepEqual(
        result.data.get(i)?.map(hex),
        [
          hex(s.subarray(0, 8)),
          hex(s.subarray(s.length - 10)),
          hex(s.subarray(Math.max(0, s.length - 50))),
          hex(s.subarray(s.length - 10, s.length - 6)),
          // [length − 50, length − 25) clipped to the data: [50, 75) or, for 30 bytes, [0, 5)
          hex(s.subarray(Math.max(0, s.length - 50), Math.max(0, s.length - 25))),
          '',
        ],
        `share ${i} (${s.length} bytes)`,
      );
    }
  });

  define('concurrent read-test-writes on one slot serialise', async (t, c) => {
    const si = newSi();
    const secrets = newSecrets();
    const candidates = Array.from({ length: concurrency }, () => rand(64));
    const results = await Promise.all(
      candidates.map((data) =>
        c.readTestWrite(
          si,
          secrets,
          new Map([[0, tw([[0, data]], [MUST_NOT_EXIST])]]),
          rv([0, 64]),
        ),
      ),
    );
    const winners = results.flatMap((r, i) => (r.success ? [i] : []));
    t.is(winners.length, 1, 'exactly one "must not exist" write wins');
    const winner = hex(candidates[winners[0]]);
    t.is(hex(await c.readShare(si, 0, 0, 64)), winner);
    for (const r of results) {
      const seen = r.data.get(0);
      if (r.success) t.is(seen, undefined, 'the winner saw no share');
      else t.deepEqual(seen?.map(hex), [winner], 'every loser saw the whole winning write');
    }
  });

  define('compare-and-swap increments from concurrent writers are never lost', async (t, c) => {
    const si = newSi();
    const secrets = newSecrets();
    const encode = (n: number) => bytes(n.toString().padStart(8, '0'));
    await c.readTestWrite(si, secrets, new Map([[0, tw([[0, encode(0)]])]]), []);
    const perWorker = 3;
    const workers = Math.max(2, Math.floor(concurrency / 2));
    let conflicts = 0;
    await Promise.all(
      Array.from({ length: workers }, async () => {
        for (let done = 0; done < perWorker;) {
          const current = (await c.readTestWrite(si, secrets, new Map(), rv([0, 8]))).data.get(
            0,
          )![0];
          const next = encode(Number(Buffer.from(current).toString()) + 1);
          const res = await c.readTestWrite(
            si,
            secrets,
            new Map([[0, tw([[0, next]], [[0, 8, current]])]]),
            [],
          );
          if (res.success) done++;
          else conflicts++;
        }
      }),
    );
    const final = await c.readShare(si, 0, 0, 8);
    t.is(Number(Buffer.from(final!).toString()), workers * perWorker);
    t.log(`${conflicts} conflicting attempts were refused`);
  });

  define('a 1 MiB share round-trips through every read path', async (t, c) => {
    const si = newSi();
    const secrets = newSecrets();
    const big = rand(1 << 20);
    const res = await c.readTestWrite(si, secrets, new Map([[0, tw([[0, big]])]]), []);
    t.true(res.success);
    t.is(hex(await c.readShare(si, 0, 0, 1 << 20)), hex(big));
    const read = await c.readTestWrite(si, secrets, new Map(), rv([0, 1 << 20]));
    t.is(hex(read.data.get(0)?.[0]), hex(big));
  });

  define('leases are added on held slots, corruption advice on held shares', async (t, c) => {
    const si = newSi();
    const secrets = newSecrets();
    await c.readTestWrite(si, secrets, new Map([[2, tw([[0, bytes('x')]])]]), []);
    t.true(await c.addLease(si, secrets.leaseRenewSecret, secrets.leaseCancelSecret));
    t.true(await c.addLease(si, rand(32), rand(32)), 'a second lease');
    t.true(await c.adviseCorrupt(si, 2, 'block hash mismatch'));
    t.false(await c.adviseCorrupt(si, 3, 'not held'));
    t.deepEqual(await snapshot(c, si), { 2: hex(bytes('x')) }, 'advice changes nothing');
    const other = { ...secrets, leaseRenewSecret: rand(32), leaseCancelSecret: rand(32) };
    const res = await c.readTestWrite(si, other, new Map([[2, tw([[1, bytes('y')]])]]), []);
    t.true(res.success, 'other lease secrets with the right write enabler may write');
  });

  define('bad arguments are refused before anything is sent', async (t, c) => {
    const si = newSi();
    const s = newSecrets();
    const { cost } = await measureOperation(async () => {
      const bad: Array<Promise<unknown>> = [
        c.listShares(new Uint8Array(15)),
        c.readShare(si, 256, 0, 1),
        c.readShare(si, -1, 0, 1),
        c.readShare(si, 0, -1, 1),
        c.readShare(si, 0, 0, 0),
        c.readShare(si, 0, 0.5, 1),
        c.addLease(si, rand(31), rand(32)),
        c.adviseCorrupt(si, 0, ''),
        c.adviseCorrupt(si, 0, 'x'.repeat(40000)),
        c.readTestWrite(si, { ...s, writeEnabler: new Uint8Array(0) }, new Map(), []),
        c.readTestWrite(si, { ...s, leaseCancelSecret: rand(16) }, new Map(), []),
        c.readTestWrite(
          si,
          s,
          new Map(),
          rv(...Array.from({ length: 31 }, (): [number, number] => [0, 1])),
        ),
        c.readTestWrite(si, s, new Map([[300, tw()]]), []),
        c.readTestWrite(si, s, new Map([[0, tw([[-1, bytes('x')]])]]), []),
        c.readTestWrite(si, s, new Map([[0, tw([], [[-1, 1, bytes('x')]])]]), []),
        c.readTestWrite(si, s, new Map([[0, tw([], [], -2)]]), []),
        c.readTestWrite(si, s, new Map(), rv([0, -1])),
        c.readTestWrite(
          si,
          s,
          new Map([
            [
              0,
              tw(
                [],
                Array.from({ length: 31 }, () => MUST_NOT_EXIST),
              ),
            ],
          ]),
          [],
        ),
      ];
      for (const p of bad) await rejectsWith(t, p, 'ERR_STORAGE_CLIENT_ARGUMENT', c);
    });
    t.is(cost.requests, 0);
    t.deepEqual(await c.listShares(si), []);
  });

  define('every request is published on slotfs:request', async (t, c) => {
    const si = newSi();
    const secrets = newSecrets();
    const { cost } = await measureOperation(async () => {
      await c.readTestWrite(si, secrets, new Map([[0, tw([[0, rand(1000)]])]]), []);
      await Promise.all([c.listShares(si), c.readShare(si, 0, 0, 1000), c.listShares(newSi())]);
    });
    t.is(cost.requests, 4);
    t.is(cost.roundTrips, 2);
    t.is(cost.failures, 0);
    t.true(cost.bytesSent >= 1000, `sent ${cost.bytesSent}`);
    t.true(cost.bytesReceived >= 1000, `received ${cost.bytesReceived}`);
    t.deepEqual([...cost.byServer.keys()], [c.name]);
  });

  define('a closed client refuses further calls', async (t, c) => {
    await c.listShares(newSi());
    await c.close();
    await c.close(); // idempotent
    await rejectsWith(t, c.listShares(newSi()), 'ERR_STORAGE_CLIENT_CLOSED', c);
  });

  // --- immutable shares (http-storage-node-protocol.rst, "Immutable") ----------------------

  const newUpload = (): UploadSecrets => ({
    uploadSecret: rand(32),
    leaseRenewSecret: rand(32),
    leaseCancelSecret: rand(32),
  });

  define('immutable: chunks uploaded by one client are read whole by another', async (t, c, p) => {
    const si = newSi();
    const data = rand(3000);
    const up = newUpload();
    t.deepEqual(await c.allocateBuckets(si, up, [0, 1], data.length), {
      alreadyHave: [],
      allocated: [0, 1],
    });
    const first = await c.writeImmutableShare(si, 0, up.uploadSecret, 0, data.subarray(0, 1000));
    t.deepEqual(first, { complete: false, required: [{ begin: 1000, end: 3000 }] });
    const last = await c.writeImmutableShare(si, 0, up.uploadSecret, 2000, data.subarray(2000));
    t.deepEqual(last.required, [{ begin: 1000, end: 2000 }]);
    // Unfinished shares are invisible to everyone.
    t.deepEqual(await p.listImmutableShares(si), []);
    t.is(await p.readImmutableShare(si, 0, 0, 10), null);
    const done = await c.writeImmutableShare(
      si,
      0,
      up.uploadSecret,
      1000,
      data.subarray(1000, 2000),
    );
    t.deepEqual(done, { complete: true, required: [] });
    t.deepEqual(await p.listImmutableShares(si), [0]);
    t.deepEqual(await p.readImmutableShare(si, 0, 0, 1 << 20), data);
    t.deepEqual(await p.readImmutableShare(si, 0, 2990, 100), data.subarray(2990));
    t.deepEqual(await p.readImmutableShare(si, 0, 5000, 10), new Uint8Array(0));
    t.is(await p.readImmutableShare(si, 1, 0, 10), null);
    // Immutable shares are not mutable slots.
    t.deepEqual(await p.listShares(si), []);
    // A second allocation (another uploader) learns what is held and gets only the rest.
    const again = await p.allocateBuckets(si, newUpload(), [0, 1, 2], data.length);
    t.deepEqual(again, { alreadyHave: [0], allocated: [2] });
  });

  define('immutable: an allocation repeats for its secret, not for another', async (t, c, p) => {
    const si = newSi();
    const up = newUpload();
    t.deepEqual((await c.allocateBuckets(si, up, [3], 10)).allocated, [3]);
    t.deepEqual((await c.allocateBuckets(si, up, [3], 10)).allocated, [3]);
    const other = newUpload();
    t.deepEqual((await p.allocateBuckets(si, other, [3], 10)).allocated, []);
    await rejectsWithStatus(
      t,
      p.writeImmutableShare(si, 3, other.uploadSecret, 0, rand(10)),
      401,
      p,
    );
    await rejectsWithStatus(t, c.writeImmutableShare(si, 4, up.uploadSecret, 0, rand(10)), 404, c);
  });

  define(
    'immutable: rewriting bytes with other data conflicts; too far is refused',
    async (t, c) => {
      const si = newSi();
      const up = newUpload();
      const data = rand(100);
      await c.allocateBuckets(si, up, [0], 100);
      await c.writeImmutableShare(si, 0, up.uploadSecret, 0, data.subarray(0, 50));
      // The same bytes again are fine (a retried request).
      await c.writeImmutableShare(si, 0, up.uploadSecret, 0, data.subarray(0, 50));
      const changed = data.slice(40, 60);
      changed[0] ^= 1;
      await rejectsWithStatus(
        t,
        c.writeImmutableShare(si, 0, up.uploadSecret, 40, changed),
        409,
        c,
      );
      await rejectsWithStatus(
        t,
        c.writeImmutableShare(si, 0, up.uploadSecret, 90, rand(20)),
        413,
        c,
      );
      t.true((await c.writeImmutableShare(si, 0, up.uploadSecret, 50, data.subarray(50))).complete);
      t.deepEqual(await c.readImmutableShare(si, 0, 0, 100), data);
    },
  );

  define(
    'immutable: an aborted upload leaves nothing; a finished one cannot be aborted',
    async (t, c) => {
      const si = newSi();
      const up = newUpload();
      await c.allocateBuckets(si, up, [0, 1], 20);
      await c.writeImmutableShare(si, 0, up.uploadSecret, 0, rand(10));
      t.true(await c.abortImmutableUpload(si, 0, up.uploadSecret));
      t.false(await c.abortImmutableUpload(si, 0, up.uploadSecret));
      await rejectsWith(
        t,
        c.writeImmutableShare(si, 0, up.uploadSecret, 10, rand(10)),
        'ERR_SERVER_HTTP_STATUS',
        c,
      );
      t.deepEqual(await c.listImmutableShares(si), []);
      // The share number is free again for a new upload.
      const next = newUpload();
      t.deepEqual((await c.allocateBuckets(si, next, [0], 20)).allocated, [0]);
      t.true((await c.writeImmutableShare(si, 1, up.uploadSecret, 0, rand(20))).complete);
      t.false(await c.abortImmutableUpload(si, 1, up.uploadSecret));
      t.deepEqual(await c.listImmutableShares(si), [1]);
    },
  );

  define('immutable: leases and corruption advice reach immutable shares', async (t, c) => {
    const si = newSi();
    const up = newUpload();
    await c.allocateBuckets(si, up, [2], 8);
    t.false(await c.addLease(si, rand(32), rand(32)), 'no finished share yet');
    t.false(await c.adviseCorruptImmutable(si, 2, 'not there yet'));
    await c.writeImmutableShare(si, 2, up.uploadSecret, 0, rand(8));
    t.true(await c.addLease(si, rand(32), rand(32)));
    t.true(await c.addLease(si, up.leaseRenewSecret, up.leaseCancelSecret));
    t.true(await c.adviseCorruptImmutable(si, 2, 'block hash mismatch'));
    t.false(await c.adviseCorruptImmutable(si, 3, 'no such share'));
  });
}
