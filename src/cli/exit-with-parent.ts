// A child process that must not outlive the process that started it (test grids and test
// mounts): SLOTFS_EXIT_WITH_PARENT=<pid> makes it watch its parent and stop when that one
// is gone — killed with -9, timed out by the test runner, or exited without cleaning up.
// A process whose parent dies is re-parented, so a changed ppid is the signal; the variable
// is removed at once, so processes this one starts do not inherit the watch.

export const EXIT_WITH_PARENT = 'SLOTFS_EXIT_WITH_PARENT';
const POLL_MS = 250;
/** After SIGTERM to itself (which unmounts or closes cleanly), how long before exit(1). */
const GRACE_MS = 10_000;
let gone = false;

/** True once the parent is gone: a mount then unmounts first (nobody waits on its files). */
export function parentIsGone(): boolean {
  return gone;
}

export function exitWithParent(log: (line: string) => void = (l) => console.error(l)): void {
  const value = process.env[EXIT_WITH_PARENT];
  delete process.env[EXIT_WITH_PARENT];
  if (!value) return;
  const parent = Number(value);
  if (!Number.isSafeInteger(parent) || parent <= 0) return;
  const timer = setInterval(() => {
    if (process.ppid === parent) return;
    clearInterval(timer);
    gone = true;
    log(`slotfs: the process that started this one (pid ${parent}) is gone; stopping`);
    setTimeout(() => process.exit(1), GRACE_MS).unref();
    process.kill(process.pid, 'SIGTERM');
  }, POLL_MS);
  timer.unref();
}
