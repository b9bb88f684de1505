// `npm start`: a local grid of 10 servers (./grid) mounted at ./mnt with the client
// directory ./.slotfs, in the foreground. Ctrl-C or SIGTERM publishes pending writes,
// unmounts and stops the grid; running it again reuses all three, so the files are back.
// Builds dist/ first when it is missing or older than the sources.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(fileURLToPath(import.meta.url), '..', '..');
process.chdir(root);
const GRID = join(root, 'grid');
const MNT = join(root, 'mnt');
const CLIENT = join(root, '.slotfs');
const MAIN = join(root, 'dist', 'cli', 'main.js');

function newest(dir) {
  let latest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) latest = Math.max(latest, newest(path));
    else if (entry.name.endsWith('.ts')) latest = Math.max(latest, statSync(path).mtimeMs);
  }
  return latest;
}

if (!existsSync(MAIN) || statSync(MAIN).mtimeMs < newest(join(root, 'src'))) {
  console.log('slotfs: building (npm run build)…');
  const built = spawnSync(
    process.execPath,
    [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.build.json'],
    {
      stdio: 'inherit',
    },
  );
  if (built.status !== 0) process.exit(built.status ?? 1);
}

const { gridUp, gridDown } = await import('../dist/grid/local-grid.js');

console.log('slotfs: starting the local grid in ./grid …');
const grid = await gridUp({ dir: GRID });
console.log(
  `slotfs: ${grid.servers.length} servers up (${grid.started.length} started, ${grid.alreadyRunning.length} already running)`,
);

// A mount left behind by a killed run: clean it (lazy unmount) before mounting again.
const mounts = readFileSync('/proc/mounts', 'utf8');
if (mounts.split('\n').some((line) => line.split(' ')[1] === MNT)) {
  spawnSync('fusermount', ['-uz', MNT], { stdio: 'inherit' });
}
mkdirSync(MNT, { recursive: true });

// Its own process group, so Ctrl-C reaches only this script, which forwards SIGTERM once.
const child = spawn(
  process.execPath,
  [MAIN, 'mount', MNT, '--foreground', '--dir', CLIENT, '--servers', join(GRID, 'servers.yaml')],
  { stdio: 'inherit', detached: true },
);
let stopping = false;
const stop = (signal) => {
  if (stopping) return;
  stopping = true;
  console.log(`\nslotfs: ${signal}: publishing pending writes, unmounting, stopping the grid…`);
  child.kill('SIGTERM');
};
process.on('SIGINT', () => stop('SIGINT'));
process.on('SIGTERM', () => stop('SIGTERM'));
process.on('SIGHUP', () => stop('SIGHUP'));

const code = await new Promise((ok) => child.on('exit', (c, s) => ok(c ?? (s ? 1 : 0))));
const down = await gridDown({ dir: GRID });
console.log(`slotfs: grid stopped (${down.stopped.length + down.killed.length} servers)`);
process.exit(code);
