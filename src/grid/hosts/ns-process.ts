// Processes in a network namespace, and what must go when this process goes. A process
// enters a namespace with `nsenter --net=` (not `ip netns exec`, which also makes a new
// mount namespace, so a FUSE mount made inside would be invisible outside); for the network
// namespace alone nsenter execs the program itself, so the child's pid is the program's.
//
// A harness can end three ways: it closes the grid (everything is removed in order), it
// exits or gets SIGINT/SIGTERM (the hooks here kill the processes and delete the namespaces
// synchronously), or it is killed with -9: then the children see their parent gone
// (SLOTFS_EXIT_WITH_PARENT; the delay proxy watches its parent too) and the next run's
// sweep (hosts-grid.ts) deletes the namespaces whose owner is dead.
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { rmSync } from 'node:fs';
import { deleteNamespaceSync, netnsPath } from './netns.js';

const children = new Set<ChildProcess>();
const namespaces = new Set<string>();
const tempDirs = new Set<string>();
let hooked = false;

function cleanUpNow(): void {
  for (const child of children) {
    if (child.exitCode !== null || child.signalCode !== null) continue;
    try {
      child.kill('SIGCONT');
      child.kill('SIGKILL');
    } catch {
      // already gone
    }
  }
  for (const name of namespaces) deleteNamespaceSync(name);
  namespaces.clear();
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
  tempDirs.clear();
}

function hook(): void {
  if (hooked) return;
  hooked = true;
  process.once('exit', cleanUpNow);
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(signal, () => {
      cleanUpNow();
      if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
    });
  }
}

/** Registers a namespace (or temp dir) to delete if this process ends before closing it. */
export function ownNamespace(name: string): void {
  hook();
  namespaces.add(name);
}
export function disownNamespace(name: string): void {
  namespaces.delete(name);
}
export function ownTempDir(dir: string): void {
  hook();
  tempDirs.add(dir);
}
export function disownTempDir(dir: string): void {
  tempDirs.delete(dir);
}

/**
 * spawn() inside network namespace `namespace` (undefined: this process's own), tied to
 * this process: killed when it ends, and told to stop if it is killed (-9).
 */
export function spawnInNamespace(
  namespace: string | undefined,
  command: string,
  args: string[],
  options: SpawnOptions = {},
): ChildProcess {
  hook();
  const [cmd, argv] = namespace
    ? ['nsenter', [`--net=${netnsPath(namespace)}`, '--', command, ...args]]
    : [command, args];
  const child = spawn(cmd, argv, {
    ...options,
    env: { SLOTFS_EXIT_WITH_PARENT: String(process.pid), ...(options.env ?? process.env) },
  });
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

/** Resolves when the child has exited (at once if it already has). */
export function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

/** SIGCONT + SIGKILL, then waits for the exit. */
export async function killChild(child: ChildProcess): Promise<void> {
  if (child.exitCode === null && child.signalCode === null) {
    child.kill('SIGCONT');
    child.kill('SIGKILL');
  }
  await exited(child);
}

/** Every child spawned here that is still running (for close()). */
export function runningChildren(): ChildProcess[] {
  return [...children];
}

/**
 * Waits for a line of the child's stdout matching `re` (its output so far is kept for the
 * error); rejects when the child exits first or `timeoutMs` passes.
 */
export function waitForLine(
  child: ChildProcess,
  re: RegExp,
  timeoutMs: number,
  what: string,
): Promise<RegExpExecArray> {
  let out = '';
  let err = '';
  return new Promise((resolve, reject) => {
    const onOut = (d: Buffer) => {
      out += d.toString();
      const m = re.exec(out);
      if (m) finish(() => resolve(m));
    };
    const onErr = (d: Buffer) => (err += d.toString());
    const onExit = (code: number | null, signal: string | null) =>
      finish(() =>
        reject(new Error(`${what} exited (${code ?? signal}) before it was ready: ${err || out}`)),
      );
    const timer = setTimeout(
      () => finish(() => reject(new Error(`${what} was not ready within ${timeoutMs} ms: ${err}`))),
      timeoutMs,
    );
    const finish = (then: () => void) => {
      clearTimeout(timer);
      child.stdout!.off('data', onOut);
      child.stderr!.off('data', onErr);
      child.off('exit', onExit);
      then();
    };
    child.stdout!.on('data', onOut);
    child.stderr!.on('data', onErr);
    child.once('exit', onExit);
  });
}
