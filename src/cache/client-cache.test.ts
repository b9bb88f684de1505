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

function hintOf(seqnum: number, roothash: Uint8Array): ServermapHint {
  return {
    seqnum,
    roothash,
    checkstring: new Uint8Array(randomBytes(57)),
    k: 3,
    n: 10,
    shareSize: 1200,
    shares: { aaaa: [0], bbbb: [1, 2] },
  };
}

/** Batches the cache hands to LevelDB (reaching under the API to count them). */
function countBatches(cache: ClientCache): { batches: number; ops: number } {
  const seen = { batches: 0, ops: 0 };
  const db = (cache as unknown as { db: { on(e: string, f: (ops: unknown[]) => void): void } }).db;
  db.on('write', (ops) => {
    seen.batches++;
    seen.ops += ops.length;
  });
  return seen;
}

test('a publish is recorded in one batch: version, hint and plaintext, also after reopening', async (t) => {
  const dir = await tempDir(t);
  let cache = await ClientCache.open(join(dir, 'db'), quiet);
  const writes = countBatches(cache);
  const file = si();
  const roothash = hash();
  const plaintext = new Uint8Array(randomBytes(3000));
  const hint = hintOf(1, roothash);
  await cache.recordPublished(file, {
    version: { seqnum: 1, roothash },
    hint,
    plaintext,
    fresh: true,
  });
  t.is(writes.batches, 1);
  t.is(writes.ops, 4, 'version, hint, plaintext and its bookkeeping');
  await cache.close();
  cache = await ClientCache.open(join(dir, 'db'), quiet);
  t.deepEqual(await cache.highestVersion(file), { seqnum: 1, roothash });
  t.deepEqual(await cache.servermapHint(file), hint);
  t.deepEqual((await cache.cachedData(file))?.plaintext, plaintext);
  // A later publish of an older version (another writer's, read back) keeps the guard.
  const older = hash();
  await cache.recordPublished(file, {
    version: { seqnum: 0, roothash: older },
    hint: hintOf(0, older),
    plaintext: new Uint8Array(1),
  });
  t.deepEqual(await cache.highestVersion(file), { seqnum: 1, roothash });
  await cache.close();
});

test('concurrent records never lower the rollback guard, in memory or on disk', async (t) => {
  const dir = await tempDir(t);
  let cache = await ClientCache.open(join(dir, 'db'), quiet);
  const file = si();
  const roots = Array.from({ length: 20 }, () => hash());
  const order = [...roots.keys()].sort(() => Math.random() - 0.5);
  // Known in memory first, so the concurrent calls interleave within one turn of the loop.
  await cache.recordVerifiedVersion(file, { seqnum: 0, roothash: hash() });
  // Half of them as a publish records them (with hint and plaintext), half as a read does.
  await Promise.all(
    order.map((i) => {
      const version = { seqnum: i + 1, roothash: roots[i] };
      return i % 2 === 0
        ? cache.recordVerifiedVersion(file, version)
        : cache.recordPublished(file, {
            version,
            hint: hintOf(i + 1, roots[i]),
            plaintext: new Uint8Array([i]),
          });
    }),
  );
  t.deepEqual(await cache.highestVersion(file), { seqnum: 20, roothash: roots[19] });
  await cache.close();
  cache = await ClientCache.open(join(dir, 'db'), quiet);
  t.deepEqual(await cache.highestVersion(file), { seqnum: 20, roothash: roots[19] });
  await cache.close();
});

test('a write LevelDB refuses fails its caller, and memory does not answer for it after', async (t) => {
  const dir = await tempDir(t);
  const cache = await ClientCache.open(join(dir, 'db'), quiet);
  const file = si();
  // The database closed under the cache: every batch from here on is refused.
  const db = (cache as unknown as { db: { close(): Promise<void> } }).db;
  await db.close();
  await t.throwsAsync(cache.putServermapHint(file, hintOf(2, hash())));
  // Not served from memory as if it were stored: the read goes to the database (and fails).
  await t.throwsAsync(cache.servermapHint(file));
});

test('writes made together go to LevelDB in few batches, and reads see them at once', async (t) => {
  const dir = await tempDir(t);
  const cache = await ClientCache.open(join(dir, 'db'), quiet);
  const writes = countBatches(cache);
  const files = Array.from({ length: 10 }, () => si());
  const hints = files.map(() => hintOf(3, hash()));
  const pending = files.map((f, i) => cache.putServermapHint(f, hints[i]));
  // Not written yet, but what this process wrote is what it reads.
  t.deepEqual(await cache.servermapHint(files[9]), hints[9]);
  await Promise.all(pending);
  t.true(writes.batches <= 2, `${writes.batches} batches for 10 writes`);
  t.is(writes.ops, 10);
  await cache.forgetServermapHint(files[0]);
  t.is(await cache.servermapHint(files[0]), undefined);
  const data = new Uint8Array(randomBytes(100));
  const put = cache.putData(files[1], { seqnum: 3, roothash: hints[1].roothash }, data);
  t.deepEqual((await cache.cachedData(files[1]))?.plaintext, data, 'plaintext not yet written');
  await put;
  await cache.close();
});

test('records beyond the memory bound are read back from LevelDB', async (t) => {
  const dir = await tempDir(t);
  const cache = await ClientCache.open(join(dir, 'db'), { ...quiet, rememberedRecords: 2 });
  const files = Array.from({ length: 6 }, () => si());
  const versions = files.map((_, i) => ({ seqnum: i + 1, roothash: hash() }));
  for (const [i, f] of files.entries()) await cache.recordVerifiedVersion(f, versions[i]);
  const writes = countBatches(cache);
  for (const [i, f] of files.entries()) t.deepEqual(await cache.highestVersion(f), versions[i]);
  t.is(await cache.highestVersion(si()), undefined);
  t.is(writes.batches, 0, 'reading writes nothing');
  await cache.close();
});

test('a damaged record found in memory-backed storage is discarded', async (t) => {
  const dir = await tempDir(t);
  const location = join(dir, 'db');
  let cache = await ClientCache.open(location, quiet);
  const file = si();
  await cache.recordVerifiedVersion(file, { seqnum: 4, roothash: hash() });
  await cache.close();
  // Damage the stored record with another process's view of the database.
  const { Level } = await import('level');
  const { toBase32 } = await import('../encoding/base32.js');
  const raw = new Level<string, string>(location);
  await raw.sublevel<string, string>('versions', {}).put(toBase32(file), '{"seqnum": "x"}');
  await raw.close();
  const warnings: string[] = [];
  cache = await ClientCache.open(location, { warn: (m) => warnings.push(m) });
  t.is(await cache.highestVersion(file), undefined);
  t.regex(warnings.join('\n'), /damaged cache entry/);
  const r = hash();
  await cache.recordVerifiedVersion(file, { seqnum: 1, roothash: r });
  t.deepEqual(await cache.highestVersion(file), { seqnum: 1, roothash: r });
  await cache.close();
});

test('the records of many files read at once are what each read alone gives, from disk or memory', async (t) => {
  const dir = await tempDir(t);
  const warnings: string[] = [];
  let cache = await ClientCache.open(join(dir, 'db'), { warn: (m) => warnings.push(m) });
  const files = [si(), si(), si(), si()];
  const published = files.slice(0, 3).map((file, i) => {
    const roothash = hash();
    return {
      file,
      roothash,
      hint: hintOf(1, roothash),
      plaintext: new Uint8Array(randomBytes(100 + i)),
    };
  });
  for (const { file, roothash, hint, plaintext } of published) {
    await cache.recordPublished(file, { version: { seqnum: 1, roothash }, hint, plaintext });
  }
  await cache.close();
  cache = await ClientCache.open(join(dir, 'db'), { warn: (m) => warnings.push(m) });
  // One of them damaged on disk, as corruption would: absent, and reported.
  const raw = (
    cache as unknown as {
      data: { get(k: string): Promise<Uint8Array>; put(k: string, v: Uint8Array): Promise<void> };
    }
  ).data;
  const { toBase32 } = await import('../encoding/base32.js');
  const value = new Uint8Array(await raw.get(toBase32(files[2])));
  value[value.length - 1] ^= 1;
  await raw.put(toBase32(files[2]), value);
  // A write not yet on disk is what the read sees.
  const newer = hash();
  const pending = cache.recordVerifiedVersion(files[1], { seqnum: 2, roothash: newer });
  const many = await cache.recordsMany(files);
  await pending;
  t.deepEqual(many[0], {
    version: { seqnum: 1, roothash: published[0].roothash },
    hint: published[0].hint,
    data: { seqnum: 1, roothash: published[0].roothash, plaintext: published[0].plaintext },
  });
  t.deepEqual(many[1].version, { seqnum: 2, roothash: newer });
  t.deepEqual(many[1].data?.plaintext, published[1].plaintext);
  t.is(many[2].data, undefined);
  t.regex(warnings.join('\n'), /checksum mismatch/);
  t.deepEqual(many[3], { version: undefined, hint: undefined, data: undefined });
  // Each equals the single reads.
  for (const [i, file] of files.entries()) {
    t.deepEqual(many[i].version, await cache.highestVersion(file));
    t.deepEqual(many[i].hint, await cache.servermapHint(file));
    t.deepEqual(many[i].data?.plaintext, (await cache.cachedData(file))?.plaintext);
  }
  await cache.close();
});
