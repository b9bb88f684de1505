// Test helper: child processes (servers, mounts) that die with the test process. Three
// layers, because a test process can end in three ways: it exits (the 'exit' hook kills
// them), it gets SIGINT/SIGTERM (killed, then the signal goes on), or it is killed with -9
// — ava's timeout kills the worker — where no hook runs: then the children see their parent
// gone (SLOTFS_EXIT_WITH_PARENT, src/cli/exit-with-parent.ts) and stop by themselves.
import { spawn, spawnSync, type ChildProcess, type SpawnOptions } from 'node:child_process';

export interface OwnedSpawnOptions extends SpawnOptions {
  /**
   * The child serves a FUSE mount here: after killing it, detach the mount. libfuse's
   * auto_unmount watcher leaves it in place now and then (seen under load), and a dead
   * mount would outlive the test.
   */
  unmountOnExit?: string;
}

const owned = new Set<ChildProcess>();
const mountpoints = new Map<ChildProcess, string>();
let hooked = false;

function killOwned(): void {
  for (const child of owned) {
    if (child.exitCode !== null || child.signalCode !== null) continue;
    try {
      child.kill('SIGCONT'); // a paused (SIGSTOPped) server must be able to die
      child.kill('SIGKILL');
    } catch {
      // already gone
    }
  }
  // Synchronous: this runs in an 'exit' hook (a test process, never one serving a mount).
  for (const mountpoint of mountpoints.values()) {
    spawnSync('fusermount', ['-uz', mountpoint], { stdio: 'ignore', timeout: 5000 });
  }
}

function hook(): void {
  if (hooked) return;
  hooked = true;
  process.once('exit', killOwned);
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(signal, () => {
      killOwned();
      // Nobody else handles it: die of it, as without this hook.
      if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
    });
  }
}

/** spawn() whose child is killed when this process ends, however it ends. */
export function spawnOwned(
  command: string,
  args: string[],
  options: OwnedSpawnOptions,
): ChildProcess {
  hook();
  const { unmountOnExit, ...spawnOptions } = options;
  const child = spawn(command, args, {
    ...spawnOptions,
    env: { ...(options.env ?? process.env), SLOTFS_EXIT_WITH_PARENT: String(process.pid) },
  });
  owned.add(child);
  if (unmountOnExit) mountpoints.set(child, unmountOnExit);
  child.once('exit', () => {
    owned.delete(child);
    mountpoints.delete(child);
  });
  return child;
}
