// The file systems `npm run bench -- fs` compares: a slotfs mount (a real `slotfs mount
// --foreground` process on a local grid) and sshfs to 127.0.0.1 through an sshd of its
// own (free loopback port, throwaway host and user keys in a temporary directory).
import { spawn, type ChildProcess } from 'node:child_process';
import { access, chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { controlRequest } from '../src/fs/control.js';
import type { MountStatus } from '../src/fs/monitor.js';
import { slotfsCommand } from '../src/grid/local-grid.js';

export interface Target {
  name: string;
  /** The mounted folder the workloads run in. */
  mnt: string;
  /** slotfs tahoe: where the client keeps its RSA keys generated ahead. */
  keysDir?: string;
  /** Unmount (publishing everything first) and mount again: caches start cold. */
  remount(): Promise<void>;
  stop(): Promise<void>;
  /** What the mount process printed since it (last) started. */
  output?(): string;
  /** slotfs: what the mount has sent to the grid since it (last) started. */
  counts?(): Promise<GridCounts>;
}

/** Requests to the servers, files published, folder updates and the changes they carried. */
export interface GridCounts {
  requests: number;
  /** Of the requests, batches of writes (read-test-write-many) and the writes in them. */
  batches: number;
  batchedWrites: number;
  filePublishes: number;
  folderUpdates: number;
  folderChanges: number;
}

/** Runs a shell script; rejects with its output when it fails. */
export function sh(script: string, cwd?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', ['-c', script], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (out += c.toString()));
    child.on('exit', (code) =>
      code === 0
        ? resolve(out)
        : reject(new Error(`${script.slice(0, 200)}: exit ${code}\n${out}`)),
    );
  });
}

function mounted(mnt: string): Promise<boolean> {
  return readFile('/proc/mounts', 'utf8').then((t) =>
    t.split('\n').some((l) => l.split(' ')[1] === mnt),
  );
}

/** Whether `child` exits within `ms`; the timer is cancelled either way (else it kept the benchmark from exiting). */
async function exited(child: ChildProcess, ms: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return true;
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      new Promise<boolean>((ok) => child.once('exit', () => ok(true))),
      new Promise<boolean>((ok) => (timer = setTimeout(() => ok(false), ms))),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

export interface SlotfsTargetOptions {
  base: string;
  serversFile: string;
  format: 'ed25519' | 'tahoe';
  /** Extra node arguments for the mount process (e.g. --cpu-prof). */
  nodeArgs?: string[];
  /** Extra config.toml lines (top level). */
  config?: string;
}

/** A slotfs mount with the default settings (as `npm start` has them), in `format`. */
export async function slotfsTarget(o: SlotfsTargetOptions): Promise<Target> {
  const dir = join(o.base, `client-${o.format}`);
  const mnt = join(o.base, `mnt-${o.format}`);
  await mkdir(join(dir, 'private'), { recursive: true, mode: 0o700 });
  await mkdir(mnt, { recursive: true });
  await writeFile(
    join(dir, 'config.toml'),
    `servers-file = ${JSON.stringify(o.serversFile)}\nformat = ${JSON.stringify(o.format)}\n${o.config ?? ''}\n`,
  );
  let child: ChildProcess | undefined;
  let output = '';
  const start = async () => {
    const cmd = slotfsCommand();
    output = '';
    const c = spawn(
      cmd.command,
      [...(o.nodeArgs ?? []), ...cmd.args, 'mount', mnt, '--dir', dir, '--foreground'],
      { cwd: cmd.cwd, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    child = c;
    c.stdout!.on('data', (d: Buffer) => (output += d.toString()));
    c.stderr!.on('data', (d: Buffer) => (output += d.toString()));
    for (let i = 0; i < 900; i++) {
      if (output.includes('mounted at') && (await mounted(mnt))) return;
      if (c.exitCode !== null) break;
      await sleep(100);
    }
    throw new Error(`the slotfs mount (${o.format}) did not start:\n${output}`);
  };
  const stop = async () => {
    const c = child;
    child = undefined;
    if (!c) return;
    c.kill('SIGTERM'); // publishes what is pending, unmounts, exits
    if (!(await exited(c, 300_000))) {
      c.kill('SIGKILL');
      await exited(c, 5000);
    }
    if (await mounted(mnt)) await sh(`fusermount -u -z ${mnt}`).catch(() => undefined);
  };
  await start();
  return {
    name: `slotfs-${o.format}`,
    mnt,
    keysDir: o.format === 'tahoe' ? join(dir, 'private', 'keys') : undefined,
    remount: async () => {
      await stop();
      await start();
    },
    stop,
    output: () => output,
    counts: async () => {
      const answer = await controlRequest(mnt, { op: 'status' });
      if (!answer.ok) throw new Error(`slotfs status: ${answer.error}`);
      const s = answer.status as MountStatus;
      return {
        requests: s.servers.reduce((sum, x) => sum + x.requests, 0),
        batches: s.servers.reduce((sum, x) => sum + (x.batches ?? 0), 0),
        batchedWrites: s.servers.reduce((sum, x) => sum + (x.batchedWrites ?? 0), 0),
        filePublishes: s.published,
        folderUpdates: s.folderUpdates?.updates ?? 0,
        folderChanges: s.folderUpdates?.operations ?? 0,
      };
    },
  };
}

/** The reason sshfs cannot be compared here, or undefined when it can. */
export async function sshfsMissing(): Promise<string | undefined> {
  const need = ['/usr/bin/sshfs', '/usr/sbin/sshd', '/usr/bin/ssh-keygen'];
  for (const file of need) {
    if (
      !(await access(file).then(
        () => true,
        () => false,
      ))
    ) {
      return `${file} is missing (apt-get install sshfs openssh-server): slotfs runs alone`;
    }
  }
  if (process.getuid?.() !== 0) return 'sshfs needs root here (sshd with PermitRootLogin)';
  return undefined;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** sshfs of `base`/sshfs-remote through our own sshd on 127.0.0.1. */
export async function sshfsTarget(base: string): Promise<Target> {
  const dir = join(base, 'sshd');
  const remote = join(base, 'sshfs-remote');
  const mnt = join(base, 'mnt-sshfs');
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await mkdir(remote, { recursive: true });
  await mkdir(mnt, { recursive: true });
  await sh(
    `ssh-keygen -q -t ed25519 -N '' -f host_key && ssh-keygen -q -t ed25519 -N '' -f user_key && cp user_key.pub authorized_keys`,
    dir,
  );
  const port = await freePort();
  const config = join(dir, 'sshd_config');
  await writeFile(
    config,
    [
      'ListenAddress 127.0.0.1',
      `HostKey ${join(dir, 'host_key')}`,
      'PermitRootLogin yes',
      `AuthorizedKeysFile ${join(dir, 'authorized_keys')}`,
      'StrictModes no',
      'PasswordAuthentication no',
      'KbdInteractiveAuthentication no',
      'UsePAM no',
      `PidFile ${join(dir, 'sshd.pid')}`,
      'Subsystem sftp internal-sftp',
    ].join('\n') + '\n',
  );
  await chmod(join(dir, 'host_key'), 0o600);
  // sshd refuses to start without its privilege separation directory (made by the
  // openssh-server package's service, which we do not run).
  await mkdir('/run/sshd', { recursive: true, mode: 0o755 });
  let sshdLog = '';
  const sshd = spawn('/usr/sbin/sshd', ['-D', '-e', '-f', config, '-p', String(port)], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  sshd.stderr.on('data', (d: Buffer) => (sshdLog += d.toString()));
  for (let i = 0; i < 100 && !sshdLog.includes('Server listening'); i++) {
    if (sshd.exitCode !== null) break;
    await sleep(100);
  }
  if (!sshdLog.includes('Server listening')) {
    sshd.kill('SIGKILL');
    throw new Error(`sshd did not start:\n${sshdLog}`);
  }
  const options = [
    `IdentityFile=${join(dir, 'user_key')}`,
    'StrictHostKeyChecking=no',
    'UserKnownHostsFile=/dev/null',
    'LogLevel=ERROR',
    `port=${port}`,
  ].join(',');
  const mount = () => sh(`sshfs -o ${options} root@127.0.0.1:${remote} ${mnt}`);
  const unmount = async () => {
    if (await mounted(mnt)) await sh(`fusermount -u ${mnt} || fusermount -u -z ${mnt}`);
  };
  try {
    await mount();
  } catch (err) {
    sshd.kill('SIGTERM');
    throw err;
  }
  return {
    name: 'sshfs',
    mnt,
    remount: async () => {
      await unmount();
      await mount();
    },
    stop: async () => {
      await unmount().catch(() => undefined);
      sshd.kill('SIGTERM');
      if (!(await exited(sshd, 5000))) sshd.kill('SIGKILL');
    },
  };
}
