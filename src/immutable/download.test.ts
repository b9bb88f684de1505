// Reading Tahoe-made CHK files (src/chk/vectors) from servers holding their shares in
// various ways: spread, doubled up on few servers, damaged, too few.
import test from 'ava';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parseCap } from '../caps/parse.js';
import type { ImmutableCap } from '../caps/types.js';
import { toBase32 } from '../encoding/base32.js';
import { FaultyStorageClient } from '../grid/faults/index.js';
import { MemoryStorageClient, MemoryStorageServer } from '../grid/test-support/memory-client.js';
import { ImmutableReadError, readImmutable, readLiteral } from './index.js';

const DIR = path.join(import.meta.dirname, '..', 'chk', 'vectors');
const manifest = JSON.parse(readFileSync(path.join(DIR, 'manifest.json'), 'utf8')) as Record<
  string,
  { cap: string }
>;
const read = (name: string) => new Uint8Array(readFileSync(path.join(DIR, name)));

function vector(name: string) {
  const cap = parseCap(manifest[name].cap) as ImmutableCap;
  const shares = [0, 1, 2, 3, 4].map((n) => read(`${name}.sh${n}.share`));
  return { cap, shares, plain: read(`${name}.plain`) };
}

/** Memory servers; `layout[i]` lists the share numbers server i holds. */
function grid(cap: ImmutableCap, shares: Uint8Array[], layout: number[][]) {
  const servers = layout.map((numbers, i) => {
    const server = new MemoryStorageServer(new Uint8Array(randomBytes(20)));
    server.immutable.set(toBase32(cap.storageIndex), new Map(numbers.map((n) => [n, shares[n]])));
    return { server, client: new MemoryStorageClient(server, { name: `s${i}` }) };
  });
  return { servers, clients: servers.map((s) => s.client) };
}

test('a Tahoe CHK file spread one share per server reads back exactly', async (t) => {
  const { cap, shares, plain } = vector('chk-300000');
  const { clients } = grid(cap, shares, [[0], [1], [2], [3], [4]]);
  const result = await readImmutable(cap, clients);
  t.deepEqual(result.plaintext, plain);
  t.is(result.sharesUsed.length, 3);
  t.is(new Set(result.sharesUsed.map((u) => u.server)).size, 3, 'three servers, one share each');
});

test('shares doubled up on fewer than k servers are all fetched', async (t) => {
  const { cap, shares, plain } = vector('chk-1000');
  const { clients } = grid(cap, shares, [
    [0, 1, 2],
    [3, 4],
  ]);
  t.deepEqual((await readImmutable(cap, clients)).plaintext, plain);
  const one = grid(cap, shares, [[4, 2, 0]]);
  t.deepEqual((await readImmutable(cap, one.clients)).plaintext, plain);
});

test('a corrupt share is reported to its server and other shares are used', async (t) => {
  const { cap, shares, plain } = vector('chk-300000');
  const bad = shares.map((s) => s.slice());
  bad[1][500] ^= 0xff;
  // Every server offers the damaged share 1 first, and one good share besides.
  const { servers, clients } = grid(cap, bad, [
    [1, 0],
    [1, 2],
    [1, 3],
  ]);
  const reported: number[] = [];
  const result = await readImmutable(cap, clients, {
    onCorruptShare: (_s, n) => reported.push(n),
  });
  t.deepEqual(result.plaintext, plain);
  t.true(reported.length >= 1 && reported.every((n) => n === 1));
  const reports = servers.flatMap((s) => s.server.corruptionReports);
  t.is(reports.length, reported.length);
  t.regex(reports[0].reason, /share root/);
  t.deepEqual(result.sharesUsed.map((u) => u.shareNumber).sort(), [0, 2, 3]);
});

test('too few shares: ERR_IMMUTABLE_NOT_ENOUGH_SHARES names each server', async (t) => {
  const { cap, shares } = vector('chk-1000');
  const { clients } = grid(cap, shares, [[0], [], [3, 0]]);
  const err = await t.throwsAsync(readImmutable(cap, clients), { instanceOf: ImmutableReadError });
  t.is(err?.code, 'ERR_IMMUTABLE_NOT_ENOUGH_SHARES');
  t.is(err?.found, 2);
  t.regex(err?.message ?? '', /s1: holds none/);
});

test('LIT caps are read from the cap', (t) => {
  const cap = parseCap(manifest['lit-20'].cap);
  if (cap.kind !== 'literal') return t.fail();
  t.deepEqual(readLiteral(cap), read('lit-20.plain'));
});

test('a server that is down or fails its reads is passed over for the others', async (t) => {
  const { cap, shares, plain } = vector('chk-1000');
  const { clients } = grid(cap, shares, [[0], [1], [2], [3], [4]]);
  const faulty = clients.map((c) => new FaultyStorageClient(c));
  faulty[0].set({ kind: 'down' });
  faulty[1].set({ fault: { kind: 'http-error', status: 500 }, ops: ['readImmutableShare'] });
  const result = await readImmutable(cap, faulty);
  t.deepEqual(result.plaintext, plain);
  t.deepEqual(result.sharesUsed.map((u) => u.shareNumber).sort(), [2, 3, 4]);
  faulty[2].set({ kind: 'down' });
  const err = await t.throwsAsync(readImmutable(cap, faulty), { instanceOf: ImmutableReadError });
  t.regex(err?.message ?? '', /ERR_SERVER_UNREACHABLE/);
  t.regex(err?.message ?? '', /read of share 1 failed \(ERR_SERVER_HTTP_STATUS/);
});

test('servers away lately are asked only when the others hold fewer than k shares', async (t) => {
  const { cap, shares, plain } = vector('chk-300000');
  const { clients } = grid(cap, shares, [[0], [1], [2], [3], [4]]);
  const listed = new Set<string>();
  const watched = clients.map((c) => {
    const list = c.listImmutableShares.bind(c);
    c.listImmutableShares = (...a) => (listed.add(c.name), list(...a));
    return c;
  });
  const awayOf = (names: string[]) => (s: { name: string }) => names.includes(s.name);
  // Two away, three others hold three distinct shares (k = 3): the away two are not asked.
  const r = await readImmutable(cap, watched, { away: awayOf(['s0', 's1']) });
  t.deepEqual(r.plaintext, plain);
  t.deepEqual([...listed].sort(), ['s2', 's3', 's4']);
  // Three away: the two others cannot do it alone, so everyone is asked.
  listed.clear();
  const r2 = await readImmutable(cap, watched, { away: awayOf(['s0', 's1', 's2']) });
  t.deepEqual(r2.plaintext, plain);
  t.deepEqual([...listed].sort(), ['s0', 's1', 's2', 's3', 's4']);
});
