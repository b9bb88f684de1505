// The hosts grid itself: servers reachable only through their proxy at their namespace's
// address, partitions and heals, kill and restart, and nothing left behind by close() or
// by a run that died. Needs root (network namespaces); skipped with the reason otherwise.
import anyTest, { type TestFn } from 'ava';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import {
  HostsGridError,
  PROXY_PORT,
  SERVER_PORT,
  hostsAvailable,
  startHostsGrid,
  sweepStale,
  type HostsGrid,
} from './hosts-grid.js';
import { runPrefix } from './names.js';
import { ip, listNamespaces, netnsPath } from './netns.js';

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
  const removed = await sweepStale();
  t.true(removed.includes(name));
  t.false(existsSync(netnsPath(name)));
  t.false(removed.some((r) => r.startsWith(tmpdir()) && r.includes(`sfh-${process.pid}-`)));
});
