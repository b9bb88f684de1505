// The read-test-write-many extension against a real server process: every item is judged
// on its own (success, failed test, wrong write enabler, bad secrets, bad body), items of
// one slot apply in order, the batch shares one log fdatasync, a malformed frame is a 400,
// and a server without extensions does not know the endpoint.
import test from 'ava';
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { encode } from 'cbor2';
import { toBase32 } from '../encoding/base32.js';
import type { CommitCounters } from './commit-log.js';
import {
  decodeReadTestWriteManyResponse,
  ERROR_CODE_HEADER,
  ERROR_CODES,
  MAX_RTW_MANY_COUNT,
  parseNurl,
  PATHS,
  type ReadTestWriteResponse,
} from './protocol.js';
import { RawClient, secretsFor, tw } from './test-support/raw-client.js';
import { startServer, type RunningServer } from './server.js';

const S = secretsFor(5);
const OTHER = secretsFor(40);
const newSi = () => toBase32(randomBytes(16));
const enc = (s: string) => new TextEncoder().encode(s);
const text = (b: Uint8Array | undefined) => (b ? Buffer.from(b).toString() : undefined);

let dir: string;
let server: RunningServer;
let client: RawClient;

test.before(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'slotfs-rtw-many-'));
  server = await startServer({ dir, port: 0 });
  client = new RawClient(parseNurl(server.url));
});

test.after.always(async () => {
  await client?.close();
  await server?.close();
  await fs.rm(dir, { recursive: true, force: true });
});

async function counters(): Promise<CommitCounters> {
  const res = await client.raw('GET', PATHS.metrics);
  return (JSON.parse(res.text) as { commit: CommitCounters }).commit;
}

const isAnswer = (r: unknown): r is ReadTestWriteResponse =>
  typeof r === 'object' && r !== null && 'success' in r;

test.serial(
  'each item gets its own answer: success, failed test, wrong write enabler, bad secret, bad body',
  async (t) => {
    const existing = newSi();
    await client.rtw(existing, tw([[0, { write: [[0, enc('old')]] }]]), S);
    const fresh = newSi();
    const tested = newSi();
    await client.rtw(tested, tw([[1, { write: [[0, enc('v1')]] }]]), S);
    const guarded = newSi();
    await client.rtw(guarded, tw([[0, { write: [[0, enc('mine')]] }]]), S);
    const badSecret = newSi();

    const res = await client.rtwManyRaw([
      { si: fresh, req: tw([[2, { write: [[0, enc('new')]] }]], [[0, 3]]), secrets: S },
      {
        si: tested,
        req: tw([[1, { test: [[0, 2, enc('v0')]], write: [[0, enc('v2')]] }]], [[0, 2]]),
        secrets: S,
      },
      { si: guarded, req: tw([[0, { write: [[0, enc('theirs')]] }]]), secrets: OTHER },
      {
        si: badSecret,
        req: tw([[0, { write: [[0, enc('x')]] }]]),
        secrets: { ...S, leaseRenewSecret: new Uint8Array(5) },
      },
      { si: existing, req: tw([[0, { write: [[3, enc('+more')]] }]], [[0, 3]]), secrets: S },
    ]);
    t.is(res.status, 200);
    const body = res.body;
    const results = decodeReadTestWriteManyResponse(body, 5);
    const answers = await client.rtwMany([]); // an empty batch is fine too
    t.deepEqual(answers, []);

    // 0: a new slot written; its pre-write read saw nothing.
    const [r0, r1, r2, r3, r4] = results;
    t.true(r0 instanceof Uint8Array);
    t.is(text(await client.share(fresh, 2)), 'new');
    // 1: the test failed, nothing written, the read still answered.
    t.true(r1 instanceof Uint8Array);
    t.is(text(await client.share(tested, 1)), 'v1');
    // 2: wrong write enabler: 401 with the code, as the single request would answer.
    t.false(r2 instanceof Uint8Array);
    t.like(r2 as object, { status: 401, code: ERROR_CODES.badWriteEnabler });
    t.is(text(await client.share(guarded, 0)), 'mine');
    // 3: a lease secret of 5 bytes: 400, nothing written.
    t.like(r3 as object, { status: 400, code: ERROR_CODES.badSecrets });
    t.regex((r3 as { message: string }).message, /32 bytes/);
    t.deepEqual(await client.shares(badSecret), []);
    // 4: applied despite the failures before it.
    t.true(r4 instanceof Uint8Array);
    t.is(text(await client.share(existing, 0)), 'old+more');

    const decoded = await client.rtwMany([
      {
        si: tested,
        req: tw([[1, { test: [[0, 2, enc('v0')]], write: [[0, enc('v2')]] }]], [[0, 2]]),
        secrets: S,
      },
    ]);
    t.true(isAnswer(decoded[0]));
    t.false((decoded[0] as ReadTestWriteResponse).success);
    t.is(text((decoded[0] as ReadTestWriteResponse).data.get(1)![0]), 'v1');
  },
);

test.serial('a malformed body of one item fails that item only, with 400', async (t) => {
  const si = newSi();
  const good = { si, req: tw([[0, { write: [[0, enc('ok')]] }]]), secrets: S };
  const res = await client.raw('POST', PATHS.readTestWriteMany, {
    headers: { 'content-type': 'application/cbor' },
    body: encode([
      [
        new Uint8Array(randomBytes(16)),
        S.writeEnabler,
        S.leaseRenewSecret,
        S.leaseCancelSecret,
        encode({ nope: 1 }),
      ],
    ]),
  });
  t.is(res.status, 200);
  const [r] = decodeReadTestWriteManyResponse(res.body, 1);
  t.like(r as object, { status: 400, code: ERROR_CODES.badRequest });
  t.regex((r as { message: string }).message, /read-test-write request/);
  const [ok] = await client.rtwMany([good]);
  t.true(isAnswer(ok) && ok.success);
});

test.serial(
  'a malformed batch is refused as a whole with a clear 400, and nothing is written',
  async (t) => {
    const si = newSi();
    const cases: Array<[string, unknown, RegExp]> = [
      ['not an array', { items: [] }, /expected an array/],
      [
        'an item of 4',
        [
          [
            new Uint8Array(randomBytes(16)),
            S.writeEnabler,
            S.leaseRenewSecret,
            S.leaseCancelSecret,
          ],
        ],
        /item 0: expected \[storage index/,
      ],
      [
        'a short storage index',
        [
          [
            new Uint8Array(15),
            S.writeEnabler,
            S.leaseRenewSecret,
            S.leaseCancelSecret,
            new Uint8Array(),
          ],
        ],
        /16 bytes, got 15/,
      ],
      ['too many items', Array.from({ length: MAX_RTW_MANY_COUNT + 1 }, () => 0), /at most 256/],
    ];
    for (const [name, body, message] of cases) {
      const res = await client.raw('POST', PATHS.readTestWriteMany, {
        headers: { 'content-type': 'application/cbor' },
        body: encode(body),
      });
      t.is(res.status, 400, name);
      t.is(res.headers[ERROR_CODE_HEADER], ERROR_CODES.badRequest, name);
      t.regex(res.text, message, name);
    }
    const bad = await client.raw('POST', PATHS.readTestWriteMany, {
      headers: { 'content-type': 'application/cbor' },
      body: new Uint8Array([0x9f, 0x01]), // an unfinished array
    });
    t.is(bad.status, 400);
    t.regex(bad.text, /malformed CBOR/);
    t.deepEqual(await client.shares(si), []);
  },
);

test.serial(
  'items of one slot apply in their order; items of many slots share one log fdatasync',
  async (t) => {
    const slots = Array.from({ length: 20 }, newSi);
    const before = await counters();
    const items = slots.map((si) => ({
      si,
      req: tw([[0, { write: [[0, enc(`v1 ${si}`)]] }]]),
      secrets: S,
    }));
    const same = newSi();
    // Three versions of one slot, each testing the one before it.
    for (const [v, prev] of [
      ['a', ''],
      ['b', 'a'],
      ['c', 'b'],
    ]) {
      items.push({
        si: same,
        req: tw([[0, { test: [[0, 1, enc(prev)]], write: [[0, enc(v)]] }]]),
        secrets: S,
      });
    }
    const results = await client.rtwMany(items);
    t.true(results.every((r) => isAnswer(r) && r.success));
    for (const si of slots) t.is(text(await client.share(si, 0)), `v1 ${si}`);
    t.is(text(await client.share(same, 0)), 'c');
    const after = await counters();
    t.is(after.records - before.records, 23);
    // The 21 free slots go as one batch; the two later versions of `same` wait for it.
    t.true(after.logSyncs - before.logSyncs <= 3, `${after.logSyncs - before.logSyncs} log syncs`);

    // Only distinct slots: one log write and fdatasync for the whole request.
    const again = await client.rtwMany(
      slots.map((si) => ({ si, req: tw([[0, { write: [[0, enc(`v2 ${si}`)]] }]]), secrets: S })),
    );
    t.true(again.every((r) => isAnswer(r) && r.success));
    const last = await counters();
    t.is(last.records - after.records, 20);
    t.is(last.logSyncs - after.logSyncs, 1);
    for (const si of slots) t.is(text(await client.share(si, 0)), `v2 ${si}`);
  },
);

test.serial('a server without extensions does not know the endpoint (404)', async (t) => {
  const plainDir = await fs.mkdtemp(path.join(os.tmpdir(), 'slotfs-rtw-many-plain-'));
  const plain = await startServer({ dir: plainDir, port: 0, extensions: false });
  const c = new RawClient(parseNurl(plain.url));
  try {
    const res = await c.rtwManyRaw([
      { si: newSi(), req: tw([[0, { write: [[0, enc('x')]] }]]), secrets: S },
    ]);
    t.is(res.status, 404);
  } finally {
    await c.close();
    await plain.close();
    await fs.rm(plainDir, { recursive: true, force: true });
  }
});
