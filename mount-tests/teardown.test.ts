// Whatever ends a test process — process.exit without teardown, or kill -9 (what ava does
// to a worker that times out) — the servers and mounts it started do not outlive it.
import test from 'ava';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from '../src/storage/test-support/server-process.js';
import { eventually, fuseUnavailable, isMounted, removeAll, tempDir } from './harness.js';

const unavailable = fuseUnavailable();
const mtest = unavailable ? test.skip : test.serial;
const SCRIPT = join(REPO_ROOT, 'mount-tests', 'test-support', 'abandoned-grid.ts');

/** Running (a zombie not yet reaped by whoever adopted it counts as gone). */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

const leftovers: number[] = [];
const bases: string[] = [];
test.after.always(async () => {
  for (const pid of leftovers) if (alive(pid)) process.kill(pid, 'SIGKILL');
  for (const base of bases) await removeAll(base);
});

for (const how of ['exit', 'hang'] as const) {
  const title =
    how === 'exit'
      ? 'a test process that exits without teardown takes its grid and mount with it'
      : 'a test process killed with -9 takes its grid and mount with it';
  mtest(title, async (t) => {
    const base = await tempDir('slotfs-teardown-');
    bases.push(base);
    const child = spawn(process.execPath, ['--import=tsx', SCRIPT, how, base], {
      cwd: REPO_ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise((resolve) => child.on('exit', resolve));
    await eventually(async () => out.includes('\n') || child.exitCode !== null, 100_000, out);
    const { pids, mountpoint, gridDir } = JSON.parse(out.split('\n')[0]) as {
      pids: number[];
      mountpoint: string;
      gridDir: string;
    };
    leftovers.push(...pids);
    bases.push(gridDir); // the abandoned grid's folder is ours to remove
    t.is(pids.length, 4);
    if (how === 'hang') child.kill('SIGKILL');
    await exited;
    await eventually(
      async () => pids.every((pid) => !alive(pid)) && !isMounted(mountpoint),
      // A mount stops as on SIGTERM (publish, unmount), then exits after at most 10 s.
      60_000,
      `servers and mount gone (alive: ${pids.filter(alive).join(', ')}; mounted: ${isMounted(mountpoint)})`,
    );
    t.pass();
  });
}
