import test from 'ava';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { ClientCache, CacheError, type ServermapHint } from './client-cache.js';

async function tempDir(t: { teardown(fn: () => Promise<void>): void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'slotfs-cache-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

const si = () => new Uint8Array(randomBytes(16));
const hash = () => new Uint8Array(randomBytes(32));
const quiet = { warn: () => undefined };

test('rollback guard only moves up and survives reopening', async (t) => {
  const dir = await tempDir(t);
  const file = si();
  let cache = await ClientCache.open(join(dir, 'db'), quiet);
  t.is(await cache.highestVersion(file), undefined);
  const r5 = hash();
  await cache.recordVerifiedVersion(file, { seqnum: 5, roothash: r5 });
  await cache.recordVerifiedVersion(file, { seqnum: 3, roothash: hash() });
  t.deepEqual(await cache.highestVersion(file), { seqnum: 5, roothash: r5 });
  await cache.close();
  cache = await ClientCache.open(join(dir, 'db'), quiet);
  t.is((await cache.highestVersion(file))?.seqnum, 5);
  const r6 = hash();
  await cache.recordVerifiedVersion(file, { seqnum: 6, roothash: r6 });
  t.deepEqual(await cache.highestVersion(file), { seqnum: 6, roothash: r6 });
  await cache.close();
});

test('private keys and servermap hints round-trip', async (t) => {
  const dir = await tempDir(t);
  const cache = await ClientCache.open(join(dir, 'db'), quiet);
  const file = si();
  const key = new Uint8Array(randomBytes(1217));
  await cache.putEncryptedPrivateKey(file, key);
  t.deepEqual(await cache.encryptedPrivateKey(file), key);
  const hint: ServermapHint = {
    seqnum: 2,
    roothash: hash(),
    checkstring: new Uint8Array(randomBytes(57)),
    k: 3,
    n: 10,
    shareSize: 2400,
    shares: { aaaa: [0, 10], bbbb: [1] },
  };
  await cache.putServermapHint(file, hint);
  t.deepEqual(await cache.servermapHint(file), hint);
  await cache.forgetServermapHint(file);
  t.is(await cache.servermapHint(file), undefined);
  await cache.close();
});

test('cached plaintext is bounded, least recently used first out', async (t) => {
  const dir = await tempDir(t);
  const cache = await ClientCache.open(join(dir, 'db'), { ...quiet, maxDataBytes: 3000 });
  const [a, b, c] = [si(), si(), si()];
  const body = () => new Uint8Array(randomBytes(1000));
  const pa = body();
  await cache.putData(a, { seqnum: 1, roothash: hash() }, pa);
  await cache.putData(b, { seqnum: 1, roothash: hash() }, body());
  await cache.putData(c, { seqnum: 1, roothash: hash() }, body());
  t.deepEqual((await cache.cachedData(a))?.plaintext, pa); // a is now the most recent
  await cache.putData(si(), { seqnum: 1, roothash: hash() }, body());
  t.is(await cache.cachedData(b), undefined, 'b was least recently used');
  t.truthy(await cache.cachedData(a));
  t.true(cache.cachedDataBytes <= 3000);
  await cache.putData(si(), { seqnum: 1, roothash: hash() }, new Uint8Array(4000));
  t.true(cache.cachedDataBytes <= 3000, 'an entry larger than the bound is not kept');
  await cache.close();
  const reopened = await ClientCache.open(join(dir, 'db'), { ...quiet, maxDataBytes: 1500 });
  t.true(reopened.cachedDataBytes <= 1500, 'a smaller bound on reopening evicts');
  await reopened.close();
});

test('a damaged data entry is discarded, not returned', async (t) => {
  const dir = await tempDir(t);
  const warnings: string[] = [];
  const cache = await ClientCache.open(join(dir, 'db'), { warn: (m) => warnings.push(m) });
  const file = si();
  await cache.putData(file, { seqnum: 1, roothash: hash() }, new Uint8Array([1, 2, 3]));
  // Reach under the API to flip a plaintext byte, as disk corruption would.
  const raw = (
    cache as unknown as {
      data: { get(k: string): Promise<Uint8Array>; put(k: string, v: Uint8Array): Promise<void> };
    }
  ).data;
  const { toBase32 } = await import('../encoding/base32.js');
  const value = new Uint8Array(await raw.get(toBase32(file)));
  value[value.length - 1] ^= 1;
  await raw.put(toBase32(file), value);
  t.is(await cache.cachedData(file), undefined);
  t.regex(warnings.join('\n'), /checksum mismatch/);
  await cache.close();
});

test('a corrupt database is moved aside and replaced by an empty one', async (t) => {
  const dir = await tempDir(t);
  const location = join(dir, 'db');
  const cache = await ClientCache.open(location, quiet);
  await cache.recordVerifiedVersion(si(), { seqnum: 1, roothash: hash() });
  await cache.close();
  for (const f of await readdir(location)) {
    if (f.startsWith('MANIFEST') || f === 'CURRENT') await writeFile(join(location, f), 'garbage');
  }
  const warnings: string[] = [];
  const fresh = await ClientCache.open(location, { warn: (m) => warnings.push(m) });
  t.regex(warnings.join('\n'), /moved it to .*corrupt/);
  t.true((await readdir(dir)).some((f) => f.startsWith('db.corrupt-')));
  const file = si();
  await fresh.recordVerifiedVersion(file, { seqnum: 2, roothash: hash() });
  t.is((await fresh.highestVersion(file))?.seqnum, 2);
  await fresh.close();
});

test('a database in use by another process is refused with CacheError', async (t) => {
  const dir = await tempDir(t);
  const location = join(dir, 'db');
  const { spawn } = await import('node:child_process');
  // A second process holds the LevelDB lock until we close its stdin.
  const holder = spawn(
    process.execPath,
    [
      '--input-type=module',
      '-e',
      `import {Level} from 'level'; const db = new Level(${JSON.stringify(location)}); await db.open(); console.log('open'); process.stdin.on('end', () => db.close()); process.stdin.resume();`,
    ],
    { stdio: ['pipe', 'pipe', 'inherit'] },
  );
  t.teardown(() => holder.kill());
  await new Promise<void>((resolve) => holder.stdout.once('data', () => resolve()));
  const error = await t.throwsAsync(ClientCache.open(location, quiet), { instanceOf: CacheError });
  t.is(error?.code, 'ERR_CACHE_LOCKED');
  t.regex(error?.message ?? '', /in use by another slotfs process/);
  holder.stdin.end();
});
