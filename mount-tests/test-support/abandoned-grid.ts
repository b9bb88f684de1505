// A test process that starts a grid of 3 servers and a mount, prints their pids and the
// mount point as one JSON line, then ends without any teardown: `exit` calls
// process.exit(3) at once, `hang` waits to be killed. teardown.test.ts checks that
// nothing it started survives it. (No harness.ts here: that one needs ava's runner.)
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { slotfsCommand } from '../../src/grid/local-grid.js';
import { TestGrid } from '../../src/mutable/test-support/test-grid.js';
import { spawnOwned } from '../../src/storage/test-support/owned-process.js';

const [how, base] = process.argv.slice(2);
const grid = await TestGrid.start(3);
const serversFile = join(base, 'servers.yaml');
await writeFile(serversFile, grid.serversYaml());
const client = join(base, 'client');
await mkdir(join(client, 'private'), { recursive: true, mode: 0o700 });
await writeFile(
  join(client, 'config.toml'),
  `servers-file = ${JSON.stringify(serversFile)}\nhappy = 3\n`,
);
const mountpoint = join(base, 'mnt');
await mkdir(mountpoint);
const { command, args, cwd } = slotfsCommand();
const mount = spawnOwned(command, [...args, 'mount', mountpoint, '--foreground', '--dir', client], {
  cwd,
  stdio: ['ignore', 'pipe', 'inherit'],
  unmountOnExit: mountpoint,
});
let out = '';
await new Promise<void>((resolve, reject) => {
  mount.stdout!.on('data', (d: Buffer) => {
    out += d.toString();
    if (out.includes('slotfs: mounted at')) resolve();
  });
  mount.once('exit', () => reject(new Error(`the mount exited: ${out}`)));
});
const pids = [...grid.servers.map((s) => s.process.proc.pid), mount.pid];
process.stdout.write(JSON.stringify({ pids, mountpoint, gridDir: grid.root }) + '\n');
if (how === 'exit') process.exit(3);
setInterval(() => undefined, 60_000);
