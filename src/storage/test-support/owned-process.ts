// Test helper: child processes (servers, mounts) that die with the test process. Three
// layers, because a test process can end in three ways: it exits (the 'exit' hook kills
// them), it gets SIGINT/SIGTERM (killed, then the signal goes on), or it is killed with -9
// — ava's timeout kills the worker — where no hook runs: then the children see their parent
// gone (SLOTFS_EXIT_WITH_PARENT, src/cli/exit-with-parent.ts) and stop by themselves.
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';

const owned = new Set<ChildProcess>();
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
export function spawnOwned(command: string, args: string[], options: SpawnOptions): ChildProcess {
  hook();
  const child = spawn(command, args, {
    ...options,
    env: { ...(options.env ?? process.env), SLOTFS_EXIT_WITH_PARENT: String(process.pid) },
  });
  owned.add(child);
  child.once('exit', () => owned.delete(child));
  return child;
}
