// `node --import=tsx scripts/hosts-grid.ts [--servers N] [--link SPEC] [--client-namespace]`
// (root): a grid whose servers are hosts of their own — each in a network namespace behind
// a delay proxy (src/grid/hosts) — for trying slotfs against latency, loss and partitions
// by hand. Prints a client directory to mount with, then takes commands on stdin:
//
//   link I|all SPEC     e.g. `link all delay=25,jitter=5`, `link 3 drop=0.05`, `link 2 stall`,
//                       `link 2` (a plain link again); delay is one way, so RTT grows 2×
//   partition I|client  take the link down;  heal I|client  bring it up
//   kill I / restart I  SIGKILL the server / start it again (same directory and port)
//   stop I / resume I   SIGSTOP / SIGCONT the server
//   status              what each server is doing;  quit (or Ctrl-D, Ctrl-C)
//
// Everything it made (namespaces, veths, processes, the folder) goes when it ends.
import { createInterface } from 'node:readline';
import { parseLinkSpec } from '../src/grid/hosts/link-settings.js';
import { hostsAvailable, startHostsGrid, type HostServer } from '../src/grid/hosts/hosts-grid.js';

const args = process.argv.slice(2);
const value = (name: string) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const servers = Number(value('--servers') ?? 10);
const link = parseLinkSpec(value('--link') ?? '');
const clientNamespace = args.includes('--client-namespace');

const available = await hostsAvailable();
if (!available.ok) {
  console.error(`hosts-grid: ${available.reason}`);
  process.exit(1);
}
console.log(`starting ${servers} servers, each in its own network namespace…`);
const grid = await startHostsGrid({ servers, link, clientNamespace });
const clientDir = await grid.clientDir();
console.log(`grid folder: ${grid.root}`);
for (const s of grid.servers) console.log(`  server-${s.index}  ${s.address}  ${s.namespace}`);
console.log(`client directory: ${clientDir}`);
const enter = grid.clientNamespace ? `nsenter --net=/var/run/netns/${grid.clientNamespace} ` : '';
console.log(`mount it:  ${enter}slotfs mount /tmp/hosts-mnt --dir ${clientDir}`);
console.log('commands: link I|all SPEC, partition I|client, heal I|client, kill I, restart I,');
console.log('          stop I, resume I, status, quit');

const state = new Map<number, string>(grid.servers.map((s) => [s.index, 'up']));
let closing = false;
const close = async () => {
  if (closing) return;
  closing = true;
  console.log('removing the grid…');
  await grid.close();
  process.exit(0);
};
process.once('SIGINT', () => void close());
process.once('SIGTERM', () => void close());

const pick = (which: string | undefined): HostServer[] => {
  if (which === 'all') return grid.servers;
  const s = grid.servers[Number(which)];
  if (!s || !/^\d+$/.test(which ?? '')) {
    throw new Error(`no server ${JSON.stringify(which)} (0..${grid.servers.length - 1} or all)`);
  }
  return [s];
};

const lines = createInterface({ input: process.stdin, prompt: 'hosts> ' });
let queue: Promise<void> = Promise.resolve();
lines.prompt();
lines.on('line', (line) => {
  const [command, which, spec] = line.trim().split(/\s+/);
  const act = async () => {
    switch (command) {
      case undefined:
      case '':
        return;
      case 'link':
        for (const s of pick(which)) await s.setLink(parseLinkSpec(spec ?? ''));
        return;
      case 'partition':
      case 'heal':
        if (which === 'client') {
          await (command === 'partition' ? grid.partitionClient() : grid.healClient());
          return;
        }
        for (const s of pick(which)) {
          await s[command]();
          state.set(s.index, command === 'partition' ? 'partitioned' : 'up');
        }
        return;
      case 'kill':
      case 'restart':
      case 'stop':
      case 'resume':
        for (const s of pick(which)) {
          await s[command]();
          const now = { kill: 'killed', restart: 'up', stop: 'stopped', resume: 'up' };
          state.set(s.index, now[command]);
        }
        return;
      case 'status':
        for (const s of grid.servers) {
          console.log(`  server-${s.index} ${s.address}: ${state.get(s.index)}`);
        }
        return;
      case 'quit':
      case 'exit':
        await close();
        return;
      default:
        throw new Error(`unknown command ${JSON.stringify(command)}`);
    }
  };
  // One command at a time, in the order typed (a pasted script must not interleave).
  queue = queue
    .then(act)
    .catch((err: unknown) => console.log(`error: ${(err as Error).message}`))
    .then(() => lines.prompt());
});
lines.on('close', () => void queue.then(close));
