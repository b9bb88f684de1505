// Linux network namespaces through iproute2's `ip` (asynchronous: a harness may share its
// process with a mount). Each call names the namespace it acts in (`ip -n NS …`), so
// nothing is created in the root namespace unless asked for.
import { execFile, spawnSync } from 'node:child_process';
import { readdir } from 'node:fs/promises';

export const NETNS_DIR = '/var/run/netns';

export class HostsGridError extends Error {
  readonly code = 'ERR_HOSTS_GRID';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'HostsGridError';
  }
}

/** Runs `ip ARGS`; rejects with a HostsGridError carrying ip's own complaint. */
export function ip(args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('ip', args, { timeout: 20_000 }, (err, stdout, stderr) => {
      if (err) {
        const why = String(stderr).trim() || err.message;
        reject(new HostsGridError(`ip ${args.join(' ')} failed: ${why}`, { cause: err }));
      } else resolve(String(stdout));
    });
  });
}

/** The path `nsenter --net=` takes for a named namespace. */
export const netnsPath = (name: string) => `${NETNS_DIR}/${name}`;

export async function listNamespaces(): Promise<string[]> {
  try {
    return (await readdir(NETNS_DIR)).sort();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
}

/** pids of processes whose network namespace is `name`. */
export async function namespacePids(name: string): Promise<number[]> {
  const out = await ip(['netns', 'pids', name]).catch(() => '');
  return out
    .split(/\s+/)
    .filter((s) => /^\d+$/.test(s))
    .map(Number);
}

/**
 * Kills whatever still runs in `name` (SIGCONT first: a stopped process cannot die) and
 * deletes it; deleting a namespace deletes its interfaces and so their veth peers.
 */
export async function deleteNamespace(name: string): Promise<void> {
  for (const pid of await namespacePids(name)) {
    try {
      process.kill(pid, 'SIGCONT');
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  await ip(['netns', 'delete', name]).catch((err: HostsGridError) => {
    if (!/No such file/.test(err.message)) throw err;
  });
}

/** The same, synchronously: for an 'exit' hook, where nothing asynchronous runs any more. */
export function deleteNamespaceSync(name: string): void {
  const pids = spawnSync('ip', ['netns', 'pids', name], { encoding: 'utf8' }).stdout ?? '';
  for (const pid of pids.split(/\s+/).filter((s) => /^\d+$/.test(s))) {
    try {
      process.kill(Number(pid), 'SIGCONT');
      process.kill(Number(pid), 'SIGKILL');
    } catch {
      // already gone
    }
  }
  spawnSync('ip', ['netns', 'delete', name]);
}

/** Sets an interface up or down (a partition is a link that is down). */
export function setLinkState(namespace: string, device: string, up: boolean): Promise<string> {
  return ip(['-n', namespace, 'link', 'set', device, up ? 'up' : 'down']);
}
