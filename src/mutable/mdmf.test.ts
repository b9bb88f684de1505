// MDMF files made by Tahoe-LAFS (src/mdmf/vectors) through the mutable client: read from
// servers holding their shares, never reported corrupt for their format, refused for writing.
import test from 'ava';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { formatCap, parseCap } from '../caps/index.js';
import { writeEnabler } from '../crypto/derive.js';
import { toBase32 } from '../encoding/base32.js';
import { MemoryStorageClient, MemoryStorageServer } from '../grid/test-support/memory-client.js';
import type { StorageClient } from '../grid/storage-client.js';
import { fileContext } from './context.js';
import { publishMdmf } from './mdmf-publish.js';
import { retrieveMdmf } from './mdmf-retrieve.js';
import { MutableClient } from './mutable-client.js';

const DIR = path.join(import.meta.dirname, '..', 'mdmf', 'vectors');
const manifest = JSON.parse(readFileSync(path.join(DIR, 'manifest.json'), 'utf8')) as Record<
  string,
  { cap: string }
>;
const read = (name: string) => new Uint8Array(readFileSync(path.join(DIR, name)));

/** Five memory servers, server i holding share i of the vector (optionally damaged). */
function gridWith(name: string, damage?: (shnum: number, bytes: Uint8Array) => void) {
  const cap = parseCap(manifest[name].cap);
  if (cap.kind !== 'ssk-write') throw new Error('write cap expected');
  const servers = [0, 1, 2, 3, 4].map((n) => {
    const server = new MemoryStorageServer(new Uint8Array(randomBytes(20)));
    const data = read(`${name}.sh${n}.share`);
    damage?.(n, data);
    // As Tahoe's client would have written it: the write enabler of this server.
    const we = writeEnabler(cap.writekey, server.nodeId);
    server.slots.set(
      toBase32(cap.storageIndex),
      new Map([[n, { data, writeEnabler: we, leases: [] }]]),
    );
    return server;
  });
  const client = new MutableClient({
    servers: servers.map((s, i) => new MemoryStorageClient(s, { name: `m${i}` })),
    leaseSecret: new Uint8Array(32),
    k: 3,
    N: 5,
  });
  const reports = () => servers.flatMap((s) => s.corruptionReports);
  return { cap, client, reports };
}

for (const name of ['mdmf-1000', 'mdmf-300000']) {
  test(`${name}: read by write cap and read cap, nothing reported`, async (t) => {
    const { cap, client, reports } = gridWith(name);
    const plain = read(`${name}.plain`);
    t.deepEqual((await client.retrieve(manifest[name].cap)).plaintext, plain);
    const ro = formatCap({
      kind: 'ssk-read',
      format: 'mdmf',
      directory: false,
      storageIndex: cap.storageIndex,
      fingerprint: cap.fingerprint,
      readkey: cap.readkey,
      extraFields: [],
    });
    t.regex(ro, /^URI:MDMF-RO:/);
    const result = await client.retrieve(ro);
    t.deepEqual(result.plaintext, plain);
    t.true(result.seqnum >= 1);
    t.deepEqual(reports(), []);
  });
}

test('a damaged MDMF share is reported and the file still reads', async (t) => {
  const { client, reports } = gridWith('mdmf-300000', (n, bytes) => {
    if (n === 2) bytes[4000] ^= 1;
  });
  t.deepEqual(
    (await client.retrieve(manifest['mdmf-300000'].cap)).plaintext,
    read('mdmf-300000.plain'),
  );
  t.is(reports().length, 1);
  t.regex(reports()[0].reason, /do not hash/);
});

test('MDMF shares read through an SDMF cap are refused but never reported corrupt', async (t) => {
  const { cap, client, reports } = gridWith('mdmf-1000');
  const asSdmf = formatCap({ ...cap, format: 'sdmf', extraFields: [] });
  t.regex(asSdmf, /^URI:SSK:/);
  const err = await t.throwsAsync(client.retrieve(asSdmf));
  t.is((err as { code?: string }).code, 'ERR_UNRECOVERABLE');
  t.regex(err?.message ?? '', /shares are MDMF/);
  t.deepEqual(reports(), [], 'no false corruption advisories');
});

test('MDMF files are updated and modified in place, staying MDMF', async (t) => {
  const { cap, client, reports } = gridWith('mdmf-300000');
  const capText = manifest['mdmf-300000'].cap;
  const before = await client.retrieve(capText);
  const next = new Uint8Array(200_000).fill(0x61);
  const updated = await client.update(capText, next, { basedOn: before.version });
  t.is(updated.seqnum, before.seqnum + 1);
  const read1 = await client.retrieve(capText);
  t.deepEqual(read1.plaintext, next);
  const modified = await client.modify(
    capText,
    (old) => new Uint8Array([...old.subarray(0, 10), 0x62]),
  );
  t.is(modified.seqnum, before.seqnum + 2);
  t.deepEqual(
    (await client.retrieve(capText)).plaintext,
    new Uint8Array([...next.subarray(0, 10), 0x62]),
  );
  // A stale base is refused; recovery is SDMF-only.
  const stale = await t.throwsAsync(client.update(capText, next, { basedOn: before.version }));
  t.is((stale as { code?: string }).code, 'ERR_UNCOORDINATED_WRITE');
  const recover = await t.throwsAsync(client.recover(capText));
  t.is((recover as { code?: string }).code, 'ERR_MDMF_UNSUPPORTED');
  t.deepEqual(reports(), []);
  t.true(cap.format === 'mdmf');
});

test('an MDMF write that lost the race to another writer fails its test and changes nothing', async (t) => {
  const { client } = gridWith('mdmf-1000');
  const capText = manifest['mdmf-1000'].cap;
  const cap = parseCap(capText);
  if (cap.kind !== 'ssk-write') return t.fail();
  // Two writers read the same version; the second to publish must lose.
  const ctx = fileContext(
    {
      format: 'sdmf',
      storageIndex: cap.storageIndex,
      fingerprint: cap.fingerprint,
      readkey: cap.readkey,
      writekey: cap.writekey,
    },
    (client as unknown as { servers: StorageClient[] }).servers,
    new Uint8Array(32),
  );
  const seen = await retrieveMdmf(ctx);
  await publishMdmf(ctx, new Uint8Array([1, 2, 3]), seen.view);
  const err = await t.throwsAsync(publishMdmf(ctx, new Uint8Array([4, 5, 6]), seen.view));
  t.is((err as { code?: string }).code, 'ERR_UNCOORDINATED_WRITE');
  t.deepEqual((await client.retrieve(capText)).plaintext, new Uint8Array([1, 2, 3]));
});
