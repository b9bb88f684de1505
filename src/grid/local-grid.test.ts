// `slotfs grid` end to end with real detached server processes, in a temporary directory.
import test from 'ava';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { HttpStorageClient } from './http-client.js';
import {
  alive,
  buildIsCurrent,
  gridDown,
  gridStatus,
  gridUp,
  livePid,
  LocalGridError,
  slotfsCommand,
  SERVERS_FILE,
} from './local-grid.js';
import { readServersFile } from './servers.js';

async function tempGrid(t: import('ava').ExecutionContext) {
  const dir = await mkdtemp(path.join(tmpdir(), 'slotfs-grid-'));
  t.teardown(async () => {
    // Never leave servers running, whatever the test did.
    await gridDown({ dir, graceMs: 2000 });
    await rm(dir, { recursive: true, force: true });
  });
  return dir;
}

const pidOf = async (dir: string, name: string) =>
  Number(await readFile(path.join(dir, name, 'server.pid'), 'utf8'));

test('up, status, up again, down, up again: same servers, no duplicates', async (t) => {
  const dir = await tempGrid(t);

  const first = await gridUp({ dir, servers: 3 });
  t.deepEqual(first.started, ['server-0', 'server-1', 'server-2']);
  t.deepEqual(first.alreadyRunning, []);
  t.is(first.serversFile, path.join(dir, SERVERS_FILE));
  const listed = await readServersFile(first.serversFile);
  t.deepEqual(
    listed.map((s) => s.name),
    ['server-0', 'server-1', 'server-2'],
  );
  t.deepEqual(listed, first.servers);
  const pids = await Promise.all(listed.map((s) => pidOf(dir, s.name)));

  // Every listed server answers, under the identity servers.yaml gives it; store a share.
  const clients = listed.map((s) => new HttpStorageClient(s));
  t.teardown(() => Promise.all(clients.map((c) => c.close())));
  for (const [i, c] of clients.entries()) {
    const v = await c.getVersion();
    t.deepEqual(v.announcedNodeId, listed[i].id);
  }
  const si = new Uint8Array(randomBytes(16));
  const secrets = {
    writeEnabler: new Uint8Array(32).fill(1),
    leaseRenewSecret: new Uint8Array(32).fill(2),
    leaseCancelSecret: new Uint8Array(32).fill(3),
  };
  const share = new Uint8Array(randomBytes(5000));
  const tw = { test: [], write: [{ offset: 0, data: share }], newLength: null };
  await clients[0].readTestWrite(
    si,
    secrets,
    new Map([
      [0, tw],
      [1, tw],
    ]),
    [],
  );

  const status = await gridStatus({ dir });
  t.deepEqual(
    status.map((s) => [s.name, s.answering, s.pid, s.shares]),
    [
      ['server-0', true, pids[0], 2],
      ['server-1', true, pids[1], 0],
      ['server-2', true, pids[2], 0],
    ],
  );
  t.true(status[0].shareBytes >= 2 * 5000, `share bytes ${status[0].shareBytes}`);
  t.true(status[0].diskBytes > status[1].diskBytes);
  t.is(status[2].nurl, listed[2].nurl);

  // `up` again (count taken from the directory): nothing new starts.
  const again = await gridUp({ dir });
  t.deepEqual(again.started, []);
  t.deepEqual(again.alreadyRunning, ['server-0', 'server-1', 'server-2']);
  t.deepEqual(await Promise.all(listed.map((s) => pidOf(dir, s.name))), pids);

  const down = await gridDown({ dir });
  t.deepEqual(down.stopped, ['server-0', 'server-1', 'server-2']);
  t.deepEqual(down.killed, []);
  for (const pid of pids) t.false(alive(pid), `pid ${pid} is gone`);
  const stopped = await gridStatus({ dir });
  t.true(stopped.every((s) => !s.answering && s.pid === null && s.problem === 'not running'));
  t.is(stopped[0].shares, 2, 'shares are counted on disk even when the server is down');
  t.deepEqual(await gridDown({ dir }), {
    stopped: [],
    killed: [],
    notRunning: listed.map((s) => s.name),
  });

  // `up` after `down`: same directories, identities, ports, NURLs — and the share survives.
  const third = await gridUp({ dir });
  t.deepEqual(third.started, ['server-0', 'server-1', 'server-2']);
  t.deepEqual(third.servers, listed);
  const revived = new HttpStorageClient(third.servers[0]);
  t.teardown(() => revived.close());
  t.is(
    Buffer.compare(Buffer.from((await revived.readShare(si, 1, 0, 5000))!), Buffer.from(share)),
    0,
  );

  // No grace period: servers still alive right after SIGTERM are SIGKILLed.
  const hard = await gridDown({ dir, graceMs: 0 });
  t.is(hard.stopped.length + hard.killed.length, 3);
  t.true((await gridStatus({ dir })).every((s) => s.pid === null));
});

test('a server that fails to start is reported with its log, and nothing is left running', async (t) => {
  const dir = await tempGrid(t);
  const err = await t.throwsAsync(
    gridUp({ dir, servers: 1, serverArgs: ['--max-share-size', '0'] }),
    { instanceOf: LocalGridError },
  );
  t.is(err?.code, 'ERR_LOCAL_GRID');
  t.regex(err?.message ?? '', /server-0 \(pid \d+\) exited during start-up/);
  t.regex(err?.message ?? '', /max-share-size/, 'the log tail says why');
  t.false(existsSync(path.join(dir, SERVERS_FILE)));
});

test('bad server counts are refused', async (t) => {
  const dir = await tempGrid(t);
  for (const servers of [0, 256, 1.5]) {
    const err = await t.throwsAsync(gridUp({ dir, servers }), { instanceOf: LocalGridError });
    t.regex(err?.message ?? '', /1\.\.255/);
  }
});

test('a pid file naming some other live process is not taken for a server', async (t) => {
  const dir = await tempGrid(t);
  const serverDir = path.join(dir, 'server-0');
  await rm(serverDir, { recursive: true, force: true });
  await import('node:fs/promises').then((fs) => fs.mkdir(serverDir, { recursive: true }));
  await writeFile(path.join(serverDir, 'server.pid'), `${process.pid}\n`);
  t.is(await livePid(serverDir), null, 'this test process is alive but is not that server');
  await writeFile(path.join(serverDir, 'server.pid'), 'garbage\n');
  t.is(await livePid(serverDir), null);
  const status = await gridStatus({ dir });
  t.deepEqual(
    status.map((s) => [s.name, s.pid, s.answering]),
    [['server-0', null, false]],
  );
  t.deepEqual((await gridDown({ dir })).notRunning, ['server-0'], 'and it is not signalled');
});

test('the child command runs this slotfs: from source through tsx with SLOTFS_FROM_SOURCE=1, else its current build', (t) => {
  const saved = process.env.SLOTFS_FROM_SOURCE;
  try {
    process.env.SLOTFS_FROM_SOURCE = '1';
    const { command, args, cwd } = slotfsCommand();
    t.is(command, process.execPath);
    t.regex(args[0], /^--import=file:.*tsx/);
    t.is(args[1], path.join(cwd, 'src', 'cli', 'main.ts'));
    t.true(existsSync(args[1]));
    delete process.env.SLOTFS_FROM_SOURCE;
    const other = slotfsCommand();
    if (buildIsCurrent(cwd)) t.deepEqual(other.args, [path.join(cwd, 'dist', 'cli', 'main.js')]);
    else t.deepEqual(other.args, args);
  } finally {
    if (saved === undefined) delete process.env.SLOTFS_FROM_SOURCE;
    else process.env.SLOTFS_FROM_SOURCE = saved;
  }
});

test('a build counts as current while it is newer than every source file it compiles', async (t) => {
  const root = await mkdtemp(path.join(tmpdir(), 'slotfs-build-'));
  t.teardown(() => rm(root, { recursive: true, force: true }));
  const at = async (file: string, seconds: number) => {
    const full = path.join(root, file);
    await mkdir(path.dirname(full), { recursive: true });
    await writeFile(full, '');
    await utimes(full, seconds, seconds);
  };
  await at('src/cli/main.ts', 1000);
  await at('src/grid/local-grid.ts', 2000);
  t.false(buildIsCurrent(root), 'no build at all');
  await at('dist/cli/main.js', 3000);
  t.true(buildIsCurrent(root));
  // Tests and test support are not compiled: a newer one leaves the build current.
  await at('src/grid/local-grid.test.ts', 4000);
  await at('src/mutable/test-support/grid.ts', 4000);
  t.true(buildIsCurrent(root));
  await at('src/fs/deep/newer.ts', 3001);
  t.false(buildIsCurrent(root), 'a source changed after the build');
  await at('dist/cli/main.js', 5000);
  process.env.SLOTFS_FROM_SOURCE = '1';
  try {
    t.false(buildIsCurrent(root), 'SLOTFS_FROM_SOURCE=1');
  } finally {
    delete process.env.SLOTFS_FROM_SOURCE;
  }
  t.true(buildIsCurrent(root));
});
