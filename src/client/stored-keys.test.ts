import test from 'ava';
import { mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { generateRsaKeyPair, type RsaKeyPair } from '../crypto/rsa.js';
import { StoredKeyPool } from './stored-keys.js';

// Real keys (small, so the test is quick), handed out by a counting generator.
const keys: RsaKeyPair[] = [];
test.before(async () => {
  for (let i = 0; i < 8; i++) keys.push(await generateRsaKeyPair(1024));
});

function generator() {
  const g = { calls: 0, generate: async () => keys[g.calls++ % keys.length] };
  return g;
}

const hex = (k: RsaKeyPair) => Buffer.from(k.privateKeyDer).toString('hex');

test('keys are generated ahead into private files, each used once and deleted before use', async (t) => {
  const dir = join(await mkdtemp(join(tmpdir(), 'slotfs-keys-')), 'keys');
  t.teardown(() => rm(dirname(dir), { recursive: true, force: true }));
  const g = generator();
  const pool = await StoredKeyPool.open({ dir, size: 3, generate: g.generate });
  await pool.idle();
  const files = await readdir(dir);
  t.is(files.length, 3);
  t.is((await stat(dir)).mode & 0o777, 0o700);
  for (const f of files) t.is((await stat(join(dir, f))).mode & 0o777, 0o600);

  const first = await pool.take();
  t.is(pool.stats.hits, 1);
  t.is((await readdir(dir)).filter((f) => files.includes(f)).length, 2, 'its file is gone');
  await pool.idle();
  t.is((await readdir(dir)).length, 3, 'refilled');
  t.is(g.calls, 4);
  await pool.close();

  // A new process finds the stored keys: a burst of 3 needs no generation.
  const g2 = generator();
  const again = await StoredKeyPool.open({ dir, size: 3, generate: g2.generate });
  const burst = [await again.take(), await again.take(), await again.take()];
  t.is(again.stats.hits, 3);
  t.is(again.stats.misses, 0);
  const used = new Set([hex(first), ...burst.map(hex)]);
  t.is(used.size, 4, 'no key handed out twice');
  await again.close();
});

test('size 0 generates nothing ahead but uses stored keys; leftovers and unreadable files are dropped', async (t) => {
  const dir = join(await mkdtemp(join(tmpdir(), 'slotfs-keys-')), 'keys');
  t.teardown(() => rm(dirname(dir), { recursive: true, force: true }));
  const filled = await StoredKeyPool.open({ dir, size: 1, generate: generator().generate });
  await filled.idle();
  await filled.close();
  await writeFile(join(dir, '.tmp-0123456789abcdef01234567.der'), 'half');
  await writeFile(join(dir, '00112233445566778899aabb.der'), 'not a key');
  const warnings: string[] = [];
  const g = generator();
  const pool = await StoredKeyPool.open({
    dir,
    size: 0,
    generate: g.generate,
    warn: (w) => warnings.push(w),
  });
  t.is(warnings.length, 1);
  t.regex(warnings[0], /unreadable stored key/);
  t.deepEqual((await readdir(dir)).length, 1, 'only the good key is left');
  await pool.take();
  t.deepEqual(pool.stats, { size: 0, ready: 0, inFlight: 0, hits: 1, misses: 0 });
  t.is(g.calls, 0);
  await pool.take(); // none stored: generated on the spot
  t.is(pool.stats.misses, 1);
  t.is((await readdir(dir)).length, 0);
  await pool.close();
});
