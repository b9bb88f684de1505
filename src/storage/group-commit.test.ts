// Group commit in a real server process: many writers to many slots and to one slot at
// once; the results equal a serial order, and the server's counters show requests sharing
// log fdatasyncs. A change that the server logged but could not apply to its files stops
// further writes until a restart, which applies it.
import test from 'ava';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { toBase32 } from '../encoding/base32.js';
import type { CommitCounters } from './commit-log.js';
import { PATHS } from './protocol.js';
import { RawClient, secretsFor, tw } from './test-support/raw-client.js';
import { spawnServer } from './test-support/server-process.js';

const S = secretsFor(5);
const newSi = () => toBase32(randomBytes(16));
const enc = (s: string) => new TextEncoder().encode(s);
const counterBytes = (n: number) => enc(String(n).padStart(8, '0'));

async function counters(client: RawClient): Promise<CommitCounters> {
  const res = await client.raw('GET', PATHS.metrics);
  if (res.status !== 200) throw new Error(`metrics: ${res.status} ${res.text}`);
  return (JSON.parse(res.text) as { commit: CommitCounters }).commit;
}

test('concurrent writers to many slots and to one slot: a serial order, sharing log fdatasyncs', async (t) => {
  t.timeout(120_000);
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'slotfs-group-commit-'));
  const server = await spawnServer(dir);
  const client = new RawClient(server.parsed);
  try {
    const before = await counters(client);
    // 30 slots, each written 5 times by its own writer (each version tests the previous).
    const slots = Array.from({ length: 30 }, newSi);
    const many = slots.map(async (si) => {
      for (let v = 1; v <= 5; v++) {
        const test: [number, number, Uint8Array][] = [
          [0, 8, v === 1 ? enc('') : counterBytes(v - 1)],
        ];
        const res = await client.rtw(si, tw([[0, { test, write: [[0, counterBytes(v)]] }]]), S);
        t.true(res.success, `${si} v${v}`);
      }
    });
    // 20 writers incrementing one counter slot 5 times each, retrying when beaten.
    const shared = newSi();
    await client.rtw(shared, tw([[0, { write: [[0, counterBytes(0)]] }]]), S);
    const won: number[] = [];
    let lost = 0;
    const one = Array.from({ length: 20 }, async () => {
      for (let i = 0; i < 5;) {
        const read = await client.rtw(shared, tw([], [[0, 8]]), S);
        const seen = Number(Buffer.from(read.data.get(0)![0]).toString());
        const res = await client.rtw(
          shared,
          tw([[0, { test: [[0, 8, counterBytes(seen)]], write: [[0, counterBytes(seen + 1)]] }]]),
          S,
        );
        if (res.success) {
          won.push(seen + 1);
          i++;
        } else lost++;
      }
    });
    await Promise.all([...many, ...one]);
    // Every increment that was acknowledged is a distinct step: 1..100 exactly once each.
    t.deepEqual(
      [...won].sort((a, b) => a - b),
      Array.from({ length: 100 }, (_, i) => i + 1),
    );
    t.is(Buffer.from((await client.share(shared, 0))!).toString(), '00000100');
    for (const si of slots) {
      t.is(Buffer.from((await client.share(si, 0))!).toString(), '00000005');
    }
    const after = await counters(client);
    const records = after.records - before.records;
    const batches = after.batches - before.batches;
    t.is(records, 30 * 5 + 1 + 100, 'one record per write that changed shares; failed tests none');
    t.is(after.logSyncs - before.logSyncs, batches, 'one fdatasync per batch');
    t.true(batches < records, `${records} writes committed in ${batches} batches`);
    t.log(`${records} writes (${lost} lost races retried) in ${batches} log fdatasyncs`);
  } finally {
    await client.close();
    await server.stop();
    await fs.rm(dir, { recursive: true, force: true });
  }
});

test('a logged change the files refuse: the write fails, writes stop, a restart applies it', async (t) => {
  t.timeout(120_000);
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'slotfs-group-commit-'));
  let server = await spawnServer(dir);
  let client = new RawClient(server.parsed);
  const si = newSi();
  const file = path.join(dir, 'shares', si.slice(0, 2), si, '0');
  const chattr = (args: string[]) => promisify(execFile)('chattr', args);
  try {
    t.true((await client.rtw(si, tw([[0, { write: [[0, enc('version 1')]] }]]), S)).success);
    try {
      // The immutable attribute makes even root's writes to the share file fail (EPERM).
      await chattr(['+i', file]);
    } catch (err) {
      t.log(`SKIPPED: chattr +i does not work here (${String(err).split('\n')[0]})`);
      t.pass();
      return;
    }
    const res = await client.rtwRaw(si, tw([[0, { write: [[0, enc('version 2')]] }]]), S);
    t.is(res.status, 500);
    t.is(res.headers['x-slotfs-error-code'], 'ERR_STORAGE_IO');
    t.regex(res.text, /kept in the commit log and applied when the server restarts/);
    const other = await client.rtwRaw(newSi(), tw([[0, { write: [[0, enc('x')]] }]]), S);
    t.is(other.status, 500, 'no more writes until a restart');
    t.is(Buffer.from((await client.share(si, 0))!).toString(), 'version 1', 'reads still served');

    await chattr(['-i', file]);
    await client.close();
    await server.kill();
    server = await spawnServer(dir);
    client = new RawClient(server.parsed);
    t.is(Buffer.from((await client.share(si, 0))!).toString(), 'version 2', 'replayed');
    t.true((await client.rtw(si, tw([[0, { write: [[0, enc('version 3')]] }]]), S)).success);
  } finally {
    await chattr(['-i', file]).catch(() => undefined);
    await client.close();
    await server.stop();
    await fs.rm(dir, { recursive: true, force: true });
  }
});
