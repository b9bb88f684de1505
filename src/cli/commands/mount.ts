// `slotfs mount|unmount|cap|link|status`: the mount (src/fs/mount.ts) and the commands that
// talk to a running mount over its control socket (src/fs/control.ts).
import type { Command } from 'commander';
import { spawn } from 'node:child_process';
import { mkdirSync, openSync, closeSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { realpathSync } from 'node:fs';
import { DEFAULT_CLIENT_DIR } from '../../client/client-dir.js';
import { slotfsCommand } from '../../grid/local-grid.js';
import {
  ControlError,
  allMounts,
  controlRequest,
  mountOf,
  slotfsMounts,
  type ControlAnswer,
} from '../../fs/control.js';
import type { MountStatus } from '../../fs/monitor.js';
import { reportProgress } from '../../fs/progress.js';
import { parentIsGone } from '../exit-with-parent.js';

interface MountFlags {
  dir?: string;
  servers?: string;
  foreground?: boolean;
}

function timestamped(line: string): string {
  return `${new Date().toISOString()} ${line}`;
}

async function mountForeground(mountpoint: string, flags: MountFlags): Promise<void> {
  const { mount } = await import('../../fs/mount.js');
  const log = (line: string) => process.stderr.write(timestamped(line) + '\n');
  const mounted = await mount({ mountpoint, dir: flags.dir, serversFile: flags.servers, log });
  process.stdout.write(
    `slotfs: mounted at ${mounted.mountpoint}\n` +
      `slotfs: root directory cap in ${mounted.rootCapFile}${mounted.rootCreated ? ' (new root created)' : ''}\n` +
      (mounted.recovered
        ? `slotfs: republishing ${mounted.recovered} file(s) from the journal\n`
        : ''),
  );
  process.send?.({ ready: true, mountpoint: mounted.mountpoint, rootCapFile: mounted.rootCapFile });
  process.disconnect?.();
  let signals = 0;
  const onSignal = (signal: string) => {
    signals++;
    if (signals > 1) {
      log(`slotfs: ${signal} again: exiting now; unpublished writes stay in the journal`);
      process.exit(1);
    }
    // Orphaned (its test or launcher died): unmount at once and publish for a short while
    // only, so the exit grace is not spent with the mount still in place; the journal keeps
    // the rest for the next mount.
    void mounted.unmount(
      `${signal} received`,
      parentIsGone() ? { unmountFirst: true, flushMs: 4000 } : undefined,
    );
  };
  process.on('SIGINT', () => onSignal('SIGINT'));
  process.on('SIGTERM', () => onSignal('SIGTERM'));
  process.on('SIGHUP', () => onSignal('SIGHUP'));
  await mounted.closed;
  // Let the last answers (e.g. to `slotfs unmount`) go out; exit even if a handle lingers.
  setTimeout(() => process.exit(0), 500).unref();
}

/** Starts `slotfs mount --foreground` detached, logging to CLIENTDIR/mount.log. */
async function mountBackground(mountpoint: string, flags: MountFlags): Promise<void> {
  const dir = resolve(flags.dir ?? DEFAULT_CLIENT_DIR);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const logFile = join(dir, 'mount.log');
  const fd = openSync(logFile, 'a', 0o600);
  const { command, args, cwd } = slotfsCommand();
  const childArgs = [...args, 'mount', mountpoint, '--foreground', '--dir', dir];
  if (flags.servers) childArgs.push('--servers', resolve(flags.servers));
  const child = spawn(command, childArgs, {
    cwd,
    detached: true,
    stdio: ['ignore', fd, fd, 'ipc'],
  });
  closeSync(fd);
  const outcome = await new Promise<{
    ready?: boolean;
    rootCapFile?: string;
    code?: number | null;
  }>((ok) => {
    child.once('message', (m) => ok(m as { ready: boolean; rootCapFile: string }));
    child.once('exit', (code) => ok({ code }));
  });
  if (!outcome.ready) {
    const tail = readFileSync(logFile, 'utf8').trim().split('\n').slice(-5).join('\n');
    throw new Error(`mount failed (exit ${outcome.code}); from ${logFile}:\n${tail}`);
  }
  child.disconnect?.();
  child.unref();
  console.log(`slotfs: mounted at ${mountpoint} (pid ${child.pid}, log ${logFile})`);
  console.log(`slotfs: root directory cap in ${outcome.rootCapFile}`);
}

function check(answer: ControlAnswer): Record<string, unknown> {
  if (!answer.ok) throw new Error(answer.error);
  return answer;
}

/** The absolute path of PATH, resolving symlinks in its directory (PATH may not exist). */
function absolute(path: string): string {
  const abs = resolve(path);
  try {
    return realpathSync(abs);
  } catch {
    try {
      return join(realpathSync(dirname(abs)), abs.slice(dirname(abs).length + 1));
    } catch {
      return abs;
    }
  }
}

function age(ms: number): string {
  const s = Math.round(ms / 1000);
  return s < 120 ? `${s} s` : `${Math.round(s / 60)} min`;
}

function printStatus(s: MountStatus): void {
  const now = Date.now();
  console.log(`mount ${s.mountpoint} (pid ${s.pid}, up ${age(now - s.startedAt)})`);
  console.log(`client directory ${s.clientDir}; root cap in ${s.rootCapFile}`);
  const up = s.servers.filter((x) => x.state === 'up').length;
  console.log(`\nservers: ${up} of ${s.servers.length} up`);
  for (const x of s.servers) {
    const rtt = x.lastRttMs === null ? '-' : `${x.lastRttMs} ms`;
    console.log(
      `  ${x.name.padEnd(12)} ${x.state.padEnd(7)} last round trip ${rtt}, ${x.requests ?? 0} requests${x.batches ? ` (${x.batches} batches carrying ${x.batchedWrites ?? 0} writes)` : ''}${x.away ? ', away: planned around' : ''}${x.lastError ? `  (${x.lastError})` : ''}`,
    );
  }
  console.log(
    `\npublish rate: ${(s.publishRate ?? 0).toFixed(1)} files/s (last 10 s); ${s.published ?? 0} published since the mount started`,
  );
  if (s.openChecks) {
    const c = s.openChecks;
    console.log(
      `open checks: ${c.confirmed} of ${c.files} files confirmed unchanged in ${c.checks} folder checks (${c.requests} requests)`,
    );
  }
  if (s.folderUpdates) {
    const f = s.folderUpdates;
    console.log(
      `folder updates: ${f.updates} published, carrying ${f.operations} changes (${f.retries} re-applied after a colliding write)`,
    );
  }
  console.log(`\npending write-backs: ${s.pending.length}`);
  for (const p of s.pending) {
    console.log(
      `  ${p.path} (${p.bytes} bytes, dirty for ${age(now - p.since)})${p.lastError ? `: ${p.lastError}` : ''}`,
    );
  }
  console.log(`\nrecent conflicts: ${s.conflicts.length}`);
  for (const c of s.conflicts)
    console.log(`  ${new Date(c.at).toISOString()} ${c.path} → ${c.copy}`);
  console.log(`\nrecent errors: ${s.errors.length}`);
  for (const e of s.errors) console.log(`  ${new Date(e.at).toISOString()} ${e.message}`);
}

/** Polls the mount for write-backs left and prints progress (a bar on a terminal). */
function watchProgress(mountpoint: string): { stop: () => void } {
  let latest: { left: number; rate: number } | undefined;
  let reporter: { stop: () => void } | undefined;
  let stopped = false;
  const poll = async () => {
    while (!stopped) {
      try {
        const a = check(await controlRequest(mountpoint, { op: 'progress' }, 5000));
        if (typeof a.left === 'number' && typeof a.rate === 'number') {
          latest = { left: a.left, rate: a.rate };
        }
      } catch {
        return; // the mount is going away: nothing more to show
      }
      if (!reporter && latest && latest.left > 0 && !stopped) {
        reporter = reportProgress(() => latest!, {
          tty: !!process.stdout.isTTY,
          line: (text) => console.log(text),
          draw: (text) => process.stdout.write(text),
        });
      }
      await new Promise((ok) => setTimeout(ok, 1000));
    }
  };
  void poll();
  return {
    stop: () => {
      stopped = true;
      reporter?.stop();
    },
  };
}

function mountpointFor(path: string | undefined, dir: string | undefined): string {
  if (path) return mountOf(absolute(path)).mountpoint;
  if (dir) {
    try {
      const info = JSON.parse(readFileSync(join(resolve(dir), 'mount.json'), 'utf8')) as {
        mountpoint: string;
      };
      return info.mountpoint;
    } catch {
      throw new Error(`no mount of the client directory ${dir} is running`);
    }
  }
  const mounts = slotfsMounts();
  if (mounts.length === 1) return mounts[0];
  if (mounts.length === 0) throw new Error('no slotfs mount is running');
  throw new Error(`several slotfs mounts are running (${mounts.join(', ')}); name one`);
}

export default function register(program: Command) {
  program
    .command('mount')
    .description('mount the root directory of a client as a local folder')
    .argument('<mountpoint>', 'an existing empty directory')
    .option('--dir <dir>', 'client directory (default ~/.slotfs)')
    .option('--servers <file>', 'servers file (default: the one in the client config)')
    .option('--foreground', 'stay in the foreground (unmount on Ctrl-C / SIGTERM)')
    .action(async (mountpoint: string, flags: MountFlags) => {
      const mp = resolve(mountpoint);
      if (flags.foreground) await mountForeground(mp, flags);
      else await mountBackground(mp, flags);
    });

  program
    .command('unmount')
    .alias('umount')
    .description('publish pending writes and unmount (also cleans a dead mount)')
    .argument('<mountpoint>')
    .action(async (mountpoint: string) => {
      const mp = absolute(mountpoint);
      const mounted = () => allMounts().includes(mp);
      if (!mounted()) throw new Error(`nothing is mounted at ${mp}`);
      try {
        // The mount process publishes, unmounts, closes, then answers; meanwhile we show
        // how many write-backs are left.
        const watching = watchProgress(mp);
        try {
          check(await controlRequest(mp, { op: 'unmount' }, 300_000));
        } finally {
          watching.stop();
        }
        if (!mounted()) {
          console.log(`slotfs: unmounted ${mp}`);
          return;
        }
      } catch (err) {
        if (!(err instanceof ControlError)) throw err;
        // No process answers (killed, hung, or not ours): unmount directly below.
        console.error(`slotfs: ${err.message}; unmounting with fusermount`);
      }
      const run = (args: string[]) =>
        new Promise<number | null>((ok) =>
          spawn('fusermount', args, { stdio: 'inherit' })
            .on('exit', ok)
            .on('error', () => ok(-1)),
        );
      if ((await run(['-u', mp])) !== 0 && (await run(['-uz', mp])) !== 0) {
        throw new Error(`could not unmount ${mp}`);
      }
      console.log(`slotfs: unmounted ${mp}`);
    });

  program
    .command('cap')
    .description('print the cap of a file or directory in a mount')
    .argument('<path>')
    .option('--readonly', 'print the read-only cap')
    .action(async (path: string, flags: { readonly?: boolean }) => {
      const { mountpoint, inner } = mountOf(absolute(path));
      const answer = check(
        await controlRequest(mountpoint, { op: 'cap', path: inner, readonly: flags.readonly }),
      );
      console.log(answer.cap as string);
    });

  program
    .command('link')
    .description("attach a cap (someone else's file or directory) at PATH in a mount")
    .argument('<path>', 'new name inside a mount')
    .argument(
      '<cap>',
      'a file or directory cap of either format: URI:ED25519:…, URI:DIR2-ED25519:…, URI:SSK:…, URI:DIR2:… (or their -RO read caps), or URI:LIT:…',
    )
    .action(async (path: string, cap: string) => {
      const { mountpoint, inner } = mountOf(absolute(path));
      check(await controlRequest(mountpoint, { op: 'link', path: inner, cap }));
      console.log(`slotfs: linked ${path}`);
    });

  program
    .command('status')
    .description('servers, pending write-backs, recent conflicts and errors of a mount')
    .argument('[path]', 'the mount point or any path inside it')
    .option('--dir <dir>', 'client directory of the mount')
    .option('--json', 'print JSON')
    .action(async (path: string | undefined, flags: { dir?: string; json?: boolean }) => {
      const mountpoint = mountpointFor(path, flags.dir);
      const answer = check(await controlRequest(mountpoint, { op: 'status' }, 30_000));
      const status = answer.status as MountStatus;
      if (flags.json) console.log(JSON.stringify(status));
      else printStatus(status);
    });
}
