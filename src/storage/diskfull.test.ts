// A server on a full disk (a 1 MiB tmpfs): writes answer 507 and change nothing, existing
// shares stay readable, a restart on the full disk still serves them, and freeing space
// brings writes back. Needs root to mount; otherwise the test says so and passes.
import test from 'ava';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promises as fs, readdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { toBase32 } from '../encoding/base32.js';
import { RawClient, secretsFor, tw } from './test-support/raw-client.js';
import { spawnServer } from './test-support/server-process.js';

const enc = (s: string) => new TextEncoder().encode(s);

async function fill(file: string) {
  const h = await fs.open(file, 'w');
  try {
    for (const size of [1 << 18, 1 << 14, 1 << 10, 64, 1]) {
      for (;;) {
        try {
          await h.write(new Uint8Array(size).fill(1));
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
          break;
        }
      }
    }
  } finally {
    await h.close().catch(() => undefined);
  }
}

test('full disk: writes get 507 and change nothing; shares stay readable, also after a restart', async (t) => {
  t.timeout(120_000);
  const mountpoint = await fs.mkdtemp(path.join(os.tmpdir(), 'slotfs-full-'));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', mountpoint], { stdio: 'pipe' });
  } catch (err) {
    await fs.rmdir(mountpoint);
    t.log(
      `SKIPPED: cannot mount a tmpfs here (${String(err).split('\n')[0]}); full-disk test not run`,
    );
    t.pass();
    return;
  }
  const dir = path.join(mountpoint, 'server');
  const S = secretsFor(3);
  let server = await spawnServer(dir);
  let client = new RawClient(server.parsed);
  try {
    const si = toBase32(randomBytes(16));
    t.true((await client.rtw(si, tw([[0, { write: [[0, enc('kept safe')]] }]]), S)).success);
    const before = (await client.version()).availableSpace;
    await fill(path.join(mountpoint, 'filler'));
    t.true((await client.version()).availableSpace < before);

    // (An update that needs no new space may succeed: the commit log and the share file
    // already have their blocks. One that grows the share needs more.)
    const update = await client.rtwRaw(si, tw([[0, { write: [[0, randomBytes(20_000)]] }]]), S);
    t.is(update.status, 507);
    t.is(update.headers['x-slotfs-error-code'], 'ERR_STORAGE_NO_SPACE');
    t.regex(update.text, /disk is full.*nothing was changed/);
    const create = await client.rtwRaw(si, tw([[1, { write: [[0, randomBytes(5000)]] }]]), S);
    t.is(create.status, 507);
    const other = await client.rtwRaw(
      toBase32(randomBytes(16)),
      tw([[0, { write: [[0, enc('x')]] }]]),
      S,
    );
    t.is(other.status, 507);
    t.is(Buffer.from((await client.share(si, 0))!).toString(), 'kept safe');
    t.deepEqual(await client.shares(si), [0]);
    const bucket = path.join(dir, 'shares', si.slice(0, 2), si);
    t.deepEqual(readdirSync(bucket), ['0'], 'no temporary files left behind');

    // Restart on the still-full disk: it starts and serves what it holds.
    await client.close();
    t.is(await server.stop(), 0);
    server = await spawnServer(dir);
    client = new RawClient(server.parsed);
    t.is(Buffer.from((await client.share(si, 0))!).toString(), 'kept safe');
    const grow = tw([[0, { write: [[0, randomBytes(20_000)]] }]]);
    t.is((await client.rtwRaw(si, grow, S)).status, 507);
    t.is(Buffer.from((await client.share(si, 0))!).toString(), 'kept safe');

    // Space back: writes work again.
    await fs.rm(path.join(mountpoint, 'filler'));
    t.true((await client.rtw(si, tw([[0, { write: [[0, enc('new data!')]] }]]), S)).success);
    t.is(Buffer.from((await client.share(si, 0))!).toString(), 'new data!');
  } finally {
    await client.close().catch(() => undefined);
    await server.stop();
    execFileSync('umount', [mountpoint]);
    await fs.rmdir(mountpoint);
  }
});
