// Partitions and comebacks on a grid whose servers live on hosts of their own (network
// namespaces behind delay proxies, src/grid/hosts): the mount and the CLI run in the
// client's namespace, as on a machine of their own. Five servers, k = 3, happy = 3, so
// N − k = 2 servers may be away while writes go on, and a third one away stops them.
// Needs root for the namespaces; skipped with the reason where they cannot be made.
import anyTest, { type TestFn } from 'ava';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  hostsAvailable,
  startHostsGrid,
  type ClientDirSettings,
  type HostsGrid,
} from '../src/grid/hosts/hosts-grid.js';
import { slotfsCommand } from '../src/grid/local-grid.js';
import { spawnOwned } from '../src/storage/test-support/owned-process.js';
import {
  MountProcess,
  eventually,
  fsyncCommand,
  fuseUnavailable,
  removeAll,
  run,
  sh,
  slotfs,
  tempDir,
  type ShResult,
} from './harness.js';

const test = anyTest as TestFn;
const hosts = await hostsAvailable();
const why = hosts.ok ? fuseUnavailable() : hosts.reason;
if (why) console.warn(`hosts mount tests skipped: ${why}`);
const htest = why ? test.skip : test.serial;

const OP_TIMEOUT_MS = 6000;
const CONFIG: ClientDirSettings = {
  k: 3,
  n: 5,
  happy: 3,
  epsilon: 2,
  timeouts: { 'connect-ms': 1000, 'request-ms': 2000 },
  mount: {
    'dir-cache-ms': 300,
    'attr-cache-ms': 300,
    'kernel-cache-ms': 100,
    // Only fsync (or the retry after a failed write-back) publishes within a test.
    'write-back-ms': 600000,
    'op-timeout-ms': OP_TIMEOUT_MS,
  },
};

let grid: HostsGrid;
let base: string;

test.serial.before(async () => {
  if (why) return;
  base = await tempDir('slotfs-hosts-');
  grid = await startHostsGrid({ servers: 5, clientNamespace: true });
});

test.afterEach.always(async () => {
  if (why || !grid) return;
  await MountProcess.killAll();
  await grid.healClient();
  for (const s of grid.servers) await s.heal();
  await grid.setLinkAll({});
});

test.serial.after.always(async () => {
  if (why) return;
  await MountProcess.killAll();
  if (base) await removeAll(base);
  await grid?.close();
});

/** `slotfs ARGS` in the client's namespace. */
function slotfsThere(args: string[], timeoutMs = 60_000): Promise<ShResult> {
  const { command, args: base, cwd } = slotfsCommand();
  const child = grid.run(command, [...base, ...args], {
    cwd,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  return new Promise((resolve) =>
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    }),
  );
}

/** The file's contents as a client that never saw it (no cache) reads them from the grid. */
async function readFresh(cap: string): Promise<ShResult> {
  const fresh = await grid.clientDir(CONFIG);
  return slotfsThere(['get', cap, '--dir', fresh]);
}

async function mountThere(
  name: string,
  mount: ClientDirSettings['mount'] = {},
  timeouts: ClientDirSettings['timeouts'] = CONFIG.timeouts,
): Promise<{ m: MountProcess; mnt: string; dir: string }> {
  const dir = await grid.clientDir({ ...CONFIG, timeouts, mount: { ...CONFIG.mount, ...mount } });
  const mnt = join(base, name);
  const m = await MountProcess.start(mnt, dir, [], grid.run);
  return { m, mnt, dir };
}

async function capOf(path: string): Promise<string> {
  const r = await slotfs(['cap', path]);
  if (r.code !== 0) throw new Error(`slotfs cap ${path} failed: ${r.stderr}`);
  return r.stdout.trim().split('\n').pop()!.trim();
}

/**
 * A program that opens `file` for writing and writes `text` now (journaled by the mount),
 * keeps it open, and calls fsync only when told: so a test can cut links between the write
 * and the fsync. fsync() resolves with 'ok' or the error code fsync returned.
 */
async function heldWrite(
  file: string,
  text: string,
): Promise<{ fsync(): Promise<string>; done: Promise<unknown> }> {
  const script = `
    const fs = require('fs');
    const fd = fs.openSync(process.argv[1], 'w');
    fs.writeSync(fd, process.argv[2]);
    console.log('written');
    process.stdin.once('data', () => {
      let result = 'ok';
      try { fs.fsyncSync(fd); } catch (e) { result = e.code; }
      console.log(result);
      fs.closeSync(fd);
      process.exit(0);
    });`;
  const child = spawnOwned(process.execPath, ['-e', script, file, text], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  let out = '';
  const lines: Array<() => void> = [];
  child.stdout!.on('data', (d: Buffer) => {
    out += d.toString();
    lines.splice(0).forEach((f) => f());
  });
  const done = new Promise((resolve) => child.once('exit', resolve));
  const waitFor = async (re: RegExp) => {
    while (!re.test(out)) {
      if (child.exitCode !== null) throw new Error(`writer exited early: ${out}`);
      await Promise.race([new Promise<void>((r) => lines.push(r)), done]);
    }
  };
  await waitFor(/written\n/);
  return {
    done,
    async fsync() {
      child.stdin!.write('go\n');
      await waitFor(/written\n(\S+)\n/);
      return /written\n(\S+)\n/.exec(out)![1];
    },
  };
}

htest('N − k servers partitioned during writes: fsync succeeds and means it', async (t) => {
  // The first requests to the two that are away wait (up to request-ms); later ones plan around them.
  const { m, mnt } = await mountThere('m-nk', { 'op-timeout-ms': 30000 });
  await grid.servers[0].partition();
  await grid.servers[1].partition();
  // A new file in a folder: the file's publish and the folder's, both with two hosts away.
  const started = Date.now();
  const r = await sh(
    `mkdir notes; echo 'written with two hosts away' > notes/f.txt; ${fsyncCommand('notes/f.txt')}`,
    mnt,
    {},
    120_000,
  );
  t.log(`mkdir, new file and fsync in ${Date.now() - started} ms`);
  t.is(r.code, 0, `${r.stderr}\nmount output:\n${m.output}`);
  // Durable means on the grid: a client with no cache reads it back from the three servers
  // still reachable, the other two still away.
  const got = await readFresh(await capOf(join(mnt, 'notes/f.txt')));
  t.is(got.code, 0, got.stderr);
  t.is(got.stdout, 'written with two hosts away\n');
  await m.stop();
});

htest(
  'N − k servers away: many files, and later fsyncs do not wait for the away servers',
  async (t) => {
    // SLOTFS_HOSTS_DEFAULT_TIMEOUTS=1 runs it at the default connect-ms and request-ms (to
    // measure how long the whole thing takes there).
    const defaults = process.env.SLOTFS_HOSTS_DEFAULT_TIMEOUTS === '1';
    const { m, mnt } = await mountThere(
      'm-many',
      { 'op-timeout-ms': 30000 },
      defaults ? { 'connect-ms': 5000, 'request-ms': 20000 } : undefined,
    );
    await grid.servers[0].partition();
    await grid.servers[1].partition();
    const away = [grid.servers[0].entry.name, grid.servers[1].entry.name];
    const files = Array.from({ length: 20 }, (_, i) => `many/f${i}.txt`);
    const started = Date.now();
    const first = await sh(
      `mkdir many; echo 0 > ${files[0]}; ${fsyncCommand(files[0])}`,
      mnt,
      {},
      120_000,
    );
    t.is(first.code, 0, `${first.stderr}\nmount output:\n${m.output}`);
    t.log(`mkdir, the first file and its fsync: ${Date.now() - started} ms`);
    const before = await requestsByServer(mnt);
    const rested = Date.now();
    const rest = await sh(
      files
        .slice(1)
        .map((f, i) => `echo ${i + 1} > ${f} && ${fsyncCommand(f)}`)
        .join(' && '),
      mnt,
      {},
      600_000,
    );
    t.log(`19 more files, each fsynced: ${Date.now() - rested} ms`);
    t.log(`mkdir + 20 files, each fsynced, with 2 of 5 servers away: ${Date.now() - started} ms`);
    t.is(rest.code, 0, `${rest.stderr}\nmount output:\n${m.output}`);
    const after = await requestsByServer(mnt);
    const sent = (name: string) => after.get(name)!.requests - before.get(name)!.requests;
    // Each fsync publishes the file and its folder: at least 38 requests to every reachable
    // server. The away ones get the status probes and the back-off probes only (1 s doubling
    // to 30 s), far fewer than one per fsync.
    for (const s of grid.servers.filter((x) => !away.includes(x.entry.name))) {
      t.true(sent(s.entry.name) >= 38, `${s.entry.name}: ${sent(s.entry.name)} requests`);
    }
    t.log(`requests meanwhile: ${[...after.keys()].map((n) => `${n} ${sent(n)}`).join(', ')}`);
    for (const name of away) {
      t.true(sent(name) < 15, `${name}: ${sent(name)} requests while away`);
      t.true(after.get(name)!.away, `${name} not shown as away`);
    }
    // Durable: a client with no cache reads the last file from the three servers left.
    const got = await readFresh(await capOf(join(mnt, files[19])));
    t.is(got.stdout, '19\n', got.stderr);
    // Back: the servers are used again once they answer.
    await grid.servers[0].heal();
    await grid.servers[1].heal();
    await eventually(
      async () => {
        const r = await sh(`echo again > many/g.txt && ${fsyncCommand('many/g.txt')}`, mnt);
        const now = await requestsByServer(mnt);
        return r.code === 0 && away.every((n) => !now.get(n)!.away);
      },
      90_000,
      'the healed servers used again',
    );
    await m.stop();
  },
);

/** Per server: requests ended and whether the mount plans around it (`slotfs status --json`). */
async function requestsByServer(
  mnt: string,
): Promise<Map<string, { requests: number; away: boolean }>> {
  const r = await slotfs(['status', '--json', mnt]);
  if (r.code !== 0) throw new Error(`slotfs status failed: ${r.stderr}`);
  const status = JSON.parse(r.stdout) as {
    servers: Array<{ name: string; requests: number; away?: boolean }>;
  };
  return new Map(status.servers.map((s) => [s.name, { requests: s.requests, away: !!s.away }]));
}

htest(
  'more than N − k partitioned: EIO within the timeout, nothing acknowledged lost',
  async (t) => {
    const { m, mnt } = await mountThere('m-eio');
    await run(`echo acknowledged > g.txt; ${fsyncCommand('g.txt')}`, mnt);
    const cap = await capOf(join(mnt, 'g.txt'));
    const writer = await heldWrite(join(mnt, 'g.txt'), 'not acknowledged\n');
    for (const i of [0, 1, 2]) await grid.servers[i].partition();
    // No hang (ava's own timeout is far above the mount's operation timeout), no pretending.
    t.is(await writer.fsync(), 'EIO');
    await writer.done;
    // Listing needs the grid once its cache has expired: an answer or EIO, not a hang.
    const ls = await sh('ls', mnt, {}, OP_TIMEOUT_MS + 60_000);
    t.true(
      ls.code === 0 ? /g\.txt/.test(ls.stdout) : /Input\/output error/.test(ls.stderr),
      ls.stderr,
    );
    for (const i of [0, 1, 2]) await grid.servers[i].heal();
    // The acknowledged version (or the later one, if the retry has published it meanwhile).
    // The mount's retry may be publishing right now: while the partition lasted, its
    // attempts left shares of several versions on the two servers it reached, and a
    // reader in the middle of the retry's writes can find no version with k shares. So a
    // failed read is tried again, for a while; a lost version would never read.
    let got = await readFresh(cap);
    for (let i = 0; got.code !== 0 && i < 20; i++) {
      await sleep(500);
      got = await readFresh(cap);
    }
    t.is(got.code, 0, got.stderr);
    t.true(['acknowledged\n', 'not acknowledged\n'].includes(got.stdout), got.stdout);
    await m.stop();
    // Stopping publishes what is journaled: the later write reaches the grid after all.
    t.is((await readFresh(cap)).stdout, 'not acknowledged\n', m.output);
  },
);

htest(
  'a server back with old shares: readers never roll back, the next publish repairs it',
  async (t) => {
    const writer = await grid.clientDir(CONFIG);
    const put = async (text: string, to?: string) => {
      const args = ['put', '-', '--dir', writer, ...(to ? ['--to', to] : [])];
      const { command, args: cli, cwd } = slotfsCommand();
      const child = grid.run(command, [...cli, ...args], { cwd, stdio: ['pipe', 'pipe', 'pipe'] });
      let out = '';
      let err = '';
      child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
      child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
      child.stdin!.end(text);
      const code = await new Promise((resolve) => child.once('exit', resolve));
      if (code !== 0) throw new Error(`slotfs put failed (${code}): ${err}`);
      return out.trim();
    };
    const cap = await put('version 1\n');
    // Two servers away while version 2 is published: they keep version 1.
    await grid.servers[3].partition();
    await grid.servers[4].partition();
    await put('version 2\n', cap);
    await grid.servers[3].heal();
    await grid.servers[4].heal();
    // Two of five answer with version 1, three with version 2: every reader gets version 2,
    // a reader that never saw the file as well as the writer.
    t.is((await readFresh(cap)).stdout, 'version 2\n');
    t.is((await slotfsThere(['get', cap, '--dir', writer])).stdout, 'version 2\n');
    await put('version 3\n', cap);
    // Repaired: with two of the servers that had version 2 away, the three left (the two that
    // came back among them) must hold version 3 — version 1 or 2 there would leave no
    // version recoverable.
    await grid.servers[0].partition();
    await grid.servers[1].partition();
    const got = await readFresh(cap);
    t.is(got.code, 0, got.stderr);
    t.is(got.stdout, 'version 3\n');
  },
);

htest(
  'client cut off from every server mid-publish, then healed: the journal republishes, no conflict with itself',
  async (t) => {
    const { m, mnt } = await mountThere('m-cut');
    await run(`echo 'first' > h.txt; ${fsyncCommand('h.txt')}`, mnt);
    const cap = await capOf(join(mnt, 'h.txt'));
    // Slow links: the requests of the next publish are on their way (held by the proxies,
    // which deliver them to the servers) when the client's link goes down, so the servers
    // take the new version and the answers are lost.
    const writer = await heldWrite(join(mnt, 'h.txt'), 'second\n');
    await grid.setLinkAll({ delayMs: 400 });
    const fsynced = writer.fsync();
    await sleep(200);
    await grid.partitionClient();
    t.is(await fsynced, 'EIO', 'fsync with every server cut off fails');
    await writer.done;
    await grid.setLinkAll({});
    await grid.healClient();
    // The mount's retry publishes the journaled write once the grid is back.
    await eventually(
      async () => (await readFresh(cap)).stdout === 'second\n',
      60_000,
      'the journaled write published after the heal',
    ).catch((err: Error) => {
      throw new Error(`${err.message}; mount output:\n${m.output}`);
    });
    t.is(await run('cat h.txt', mnt), 'second\n');
    const names = await readdir(mnt);
    t.deepEqual(
      names.filter((n) => n.includes('conflict')),
      [],
      'no conflict copy of our own write',
    );
    t.false(/conflict/i.test(m.output), m.output);
    await m.stop();
  },
);
