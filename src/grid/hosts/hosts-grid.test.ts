// The hosts grid itself: servers reachable only through their proxy at their namespace's
// address, partitions and heals, kill and restart, and nothing left behind by close() or
// by a run that died. Needs root (network namespaces); skipped with the reason otherwise.
import anyTest, { type TestFn } from 'ava';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  HostsGridError,
  PROXY_PORT,
  SERVER_PORT,
  hostsAvailable,
  startHostsGrid,
  sweepStale,
  type HostsGrid,
} from './hosts-grid.js';
import { HttpStorageClient } from '../http-client.js';
import { runPrefix } from './names.js';
import { ip, listNamespaces, namespacePids, netnsPath } from './netns.js';

const test = anyTest as TestFn;
const available = await hostsAvailable();
if (!available.ok) console.warn(`hosts grid tests skipped: ${available.reason}`);
const htest = available.ok ? test.serial : test.skip;

/** Connects to each HOST:PORT from the client's namespace; 'ok', or why not. */
async function probe(grid: HostsGrid, targets: string[]): Promise<string[]> {
  const script = `
    const net = require('net');
    Promise.all(process.argv.slice(1).map((t) => new Promise((resolve) => {
      const [host, port] = t.split(':');
      const s = net.connect(Number(port), host);
      s.setTimeout(1500, () => { s.destroy(); resolve('timeout'); });
      s.once('connect', () => { s.destroy(); resolve('ok'); });
      s.once('error', (e) => resolve(e.code));
    }))).then((r) => console.log(JSON.stringify(r)));`;
  const child = grid.run(process.execPath, ['-e', script, ...targets], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  await new Promise((resolve) => child.once('exit', resolve));
  return JSON.parse(out) as string[];
}

test('a grid of no servers is refused with a typed error', async (t) => {
  const err = await t.throwsAsync(startHostsGrid({ servers: 0 }), {
    instanceOf: HostsGridError,
  });
  t.is(err?.code, 'ERR_HOSTS_GRID');
  t.regex(err!.message, /1 to 200 servers/);
});

htest('servers answer only through their proxy; partitions, kills and close', async (t) => {
  const grid = await startHostsGrid({ servers: 2, clientNamespace: true });
  t.teardown(() => grid.close());
  const [a, b] = grid.servers;
  t.not(a.address, b.address);
  t.true(a.furl.includes(`@${a.address}:${PROXY_PORT}/`));
  t.deepEqual(
    await probe(grid, [`${a.address}:${PROXY_PORT}`, `${a.address}:${SERVER_PORT}`]),
    ['ok', 'ECONNREFUSED'],
    'the server itself listens on its namespace loopback only',
  );

  await b.partition();
  t.deepEqual(await probe(grid, [`${a.address}:${PROXY_PORT}`, `${b.address}:${PROXY_PORT}`]), [
    'ok',
    'timeout',
  ]);
  await b.heal();
  t.deepEqual(await probe(grid, [`${b.address}:${PROXY_PORT}`]), ['ok']);

  await grid.partitionClient();
  t.deepEqual(await probe(grid, [`${a.address}:${PROXY_PORT}`]), ['timeout']);
  await grid.healClient();

  const nodeId = a.nodeId;
  await a.kill();
  t.false(a.running);
  await a.restart();
  t.true(a.running);
  t.is(a.nodeId, nodeId, 'same directory, same identity');

  const namespaces = [grid.clientNamespace!, ...grid.servers.map((s) => s.namespace)];
  await grid.close();
  const left = await listNamespaces();
  t.deepEqual(
    namespaces.filter((n) => left.includes(n)),
    [],
  );
  t.false(existsSync(grid.root));
});

htest('a run that died is swept: its namespaces and folders go', async (t) => {
  // A pid that is surely dead: a process that has exited.
  const child = spawn('true');
  await new Promise((resolve) => child.once('exit', resolve));
  const name = `${runPrefix(child.pid!, 'dead00')}s0`;
  await ip(['netns', 'add', name]);
  t.teardown(() => ip(['netns', 'delete', name]).catch(() => undefined));
  // (Another test process's sweep may get there first: what counts is that it goes.)
  const removed = await sweepStale();
  t.false(existsSync(netnsPath(name)));
  t.false(removed.some((r) => r.startsWith(tmpdir()) && r.includes(`sfh-${process.pid}-`)));
});

htest(
  'a client in the root namespace reaches the servers; close() leaves no interface',
  async (t) => {
    const grid = await startHostsGrid({ servers: 1, link: { delayMs: 1 } });
    t.teardown(() => grid.close());
    t.is(grid.clientNamespace, undefined);
    const client = new HttpStorageClient(grid.servers[0].entry, {
      timeouts: { connectMs: 5000, headersMs: 5000, bodyMs: 5000 },
    });
    t.deepEqual(await client.listShares(new Uint8Array(16)), []);
    await client.close();
    t.true((await ip(['-4', '-o', 'addr'])).includes(grid.clientAddress));
    await grid.close();
    const addresses = await ip(['-4', '-o', 'addr']);
    t.false(addresses.includes(grid.clientAddress), 'the root side of the veth is gone');
  },
);

htest(
  'a harness killed with -9 leaves no process running, and the next run sweeps the rest',
  async (t) => {
    const script = `
    import { startHostsGrid } from ${JSON.stringify(new URL('./hosts-grid.ts', import.meta.url).href)};
    const grid = await startHostsGrid({ servers: 1, clientNamespace: true });
    console.log('UP ' + [grid.clientNamespace, ...grid.servers.map((s) => s.namespace)].join(' '));
    setInterval(() => {}, 1000);`;
    const harness = spawn(process.execPath, ['--import=tsx', '--input-type=module', '-e', script], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    t.teardown(() => harness.kill('SIGKILL'));
    let out = '';
    await new Promise<void>((resolve, reject) => {
      harness.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        if (/UP .*\n/.test(out)) resolve();
      });
      harness.once('exit', (code) => reject(new Error(`the harness exited (${code}): ${out}`)));
    });
    const namespaces = /UP (.*)\n/.exec(out)![1].split(' ');
    const pids = (await Promise.all(namespaces.map(namespacePids))).flat();
    t.true(pids.length >= 2, 'a server and its proxy run in the server namespace');
    harness.kill('SIGKILL');
    // No hook runs after -9: the server and the proxy notice their parent is gone.
    const alive = (pid: number) => {
      try {
        process.kill(pid, 0);
        return true;
      } catch {
        return false;
      }
    };
    for (let i = 0; i < 300 && pids.some(alive); i++) await sleep(100);
    t.deepEqual(pids.filter(alive), []);
    // (Another test process's sweep may get there first: what counts is that they go.)
    await sweepStale();
    t.deepEqual(
      (await listNamespaces()).filter((n) => namespaces.includes(n)),
      [],
    );
  },
);
