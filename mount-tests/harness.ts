// Mount tests drive a real FUSE mount (a `slotfs mount --foreground` child process) with
// ordinary tools run through bash, against a grid of real server processes.
import anyTest, { type TestFn } from 'ava';
import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { slotfsCommand } from '../src/grid/local-grid.js';
import { spawnOwned, type OwnedSpawnOptions } from '../src/storage/test-support/owned-process.js';
import { TestGrid } from '../src/mutable/test-support/test-grid.js';

export { TestGrid };

/** Why mount tests cannot run here, or undefined when they can. */
export function fuseUnavailable(): string | undefined {
  try {
    accessSync('/dev/fuse', constants.R_OK | constants.W_OK);
  } catch (err) {
    return `/dev/fuse is not usable (${(err as NodeJS.ErrnoException).code})`;
  }
  for (const tool of ['/bin/fusermount', '/usr/bin/fusermount']) {
    try {
      accessSync(tool, constants.X_OK);
      return undefined;
    } catch {
      // try the next
    }
  }
  return 'fusermount is not installed (Debian: apt-get install fuse)';
}

export interface ShResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a bash script (cwd, extra env); resolves with its exit code and output. */
export function sh(
  script: string,
  cwd: string,
  env: Record<string, string> = {},
  timeoutMs = 90_000,
): Promise<ShResult> {
  return new Promise((resolve) => {
    const child = spawn('bash', ['-euo', 'pipefail', '-c', script], {
      cwd,
      env: { ...process.env, LC_ALL: 'C', BASH_ENV: '', ...env },
      // stdin must not be a socket: bash would then read bashrc as if started by rshd.
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** Like sh(), but throws with the output when the script fails. */
export async function run(
  script: string,
  cwd: string,
  env: Record<string, string> = {},
): Promise<string> {
  const r = await sh(script, cwd, env);
  if (r.code !== 0)
    throw new Error(
      `script failed (${r.code}): ${script}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`,
    );
  return r.stdout;
}

/** Runs the slotfs CLI (from source) with `args`. */
export function slotfs(args: string[], timeoutMs = 90_000): Promise<ShResult> {
  const { command, args: base, cwd } = slotfsCommand();
  return new Promise((resolve) => {
    const child = spawnOwned(command, [...base, ...args], {
      cwd,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

export function isMounted(mountpoint: string): boolean {
  return readFileSync('/proc/mounts', 'utf8')
    .split('\n')
    .some((line) => line.split(' ')[1] === mountpoint);
}

/** The file format a mount test's client creates files in. */
export type MountFormat = 'ed25519' | 'tahoe';
/** Default for mount tests: SLOTFS_MOUNT_FORMAT, else what a new client directory gets. */
export const MOUNT_FORMAT: MountFormat =
  process.env.SLOTFS_MOUNT_FORMAT === 'tahoe' ? 'tahoe' : 'ed25519';

export interface ClientSetup {
  dir: string;
  /** format = … in config.toml (default MOUNT_FORMAT). */
  format?: MountFormat;
  serversFile: string;
  /** [mount] settings (short cache times by default, so tests do not wait long). */
  mount?: Record<string, string | number | boolean>;
  /** Top-level settings (k, n, happy, epsilon…) as TOML lines. */
  extra?: string;
  /** [timeouts] settings (connect-ms, request-ms). */
  timeouts?: Record<string, number>;
}

/** Writes a client directory's config.toml (before its first mount). */
export async function writeClientConfig(setup: ClientSetup): Promise<void> {
  await mkdir(join(setup.dir, 'private'), { recursive: true, mode: 0o700 });
  const mount = {
    'dir-cache-ms': 400,
    'attr-cache-ms': 400,
    'kernel-cache-ms': 200,
    'write-back-ms': 200,
    'op-timeout-ms': 20000,
    ...setup.mount,
  };
  const lines = [
    `servers-file = ${JSON.stringify(setup.serversFile)}`,
    `format = ${JSON.stringify(setup.format ?? MOUNT_FORMAT)}`,
    setup.extra ?? '',
    '[timeouts]',
    ...Object.entries({ 'connect-ms': 2000, 'request-ms': 8000, ...setup.timeouts }).map(
      ([k, v]) => `${k} = ${v}`,
    ),
    '[mount]',
    ...Object.entries(mount).map(([k, v]) => `${k} = ${JSON.stringify(v)}`),
  ];
  await writeFile(join(setup.dir, 'config.toml'), lines.join('\n') + '\n');
}

/** A `slotfs mount --foreground` child process. */
export class MountProcess {
  private static readonly running = new Set<MountProcess>();
  output = '';
  exited: Promise<number | null>;

  private constructor(
    readonly mountpoint: string,
    readonly dir: string,
    readonly child: ChildProcess,
  ) {
    MountProcess.running.add(this);
    this.exited = new Promise((resolve) =>
      child.on('exit', (code) => {
        MountProcess.running.delete(this);
        resolve(code);
      }),
    );
    child.stdout!.on('data', (d: Buffer) => (this.output += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (this.output += d.toString()));
  }

  /**
   * A mount that logs the operations matching `pattern` (SLOTFS_DEBUG), so a test can count
   * the calls that reached JavaScript; the variable is restored for later mounts.
   */
  static async startLogging(mountpoint: string, dir: string, pattern: string) {
    const before = process.env.SLOTFS_DEBUG;
    process.env.SLOTFS_DEBUG = pattern;
    try {
      return await MountProcess.start(mountpoint, dir);
    } finally {
      if (before === undefined) delete process.env.SLOTFS_DEBUG;
      else process.env.SLOTFS_DEBUG = before;
    }
  }

  /** Mounts and waits until the mount answers (or throws with the process output). */
  static async start(
    mountpoint: string,
    dir: string,
    extraArgs: string[] = [],
    /** How to start the process (default spawnOwned; a hosts grid's run() for its client). */
    spawner: (
      command: string,
      args: string[],
      options: OwnedSpawnOptions,
    ) => ChildProcess = spawnOwned,
  ): Promise<MountProcess> {
    await mkdir(mountpoint, { recursive: true });
    const { command, args, cwd } = slotfsCommand();
    const child = spawner(
      command,
      [...args, 'mount', mountpoint, '--foreground', '--dir', dir, ...extraArgs],
      {
        cwd,
        stdio: ['ignore', 'pipe', 'pipe'],
        unmountOnExit: mountpoint,
      },
    );
    const m = new MountProcess(mountpoint, dir, child);
    const deadline = Date.now() + 90_000;
    for (;;) {
      if (m.output.includes('slotfs: mounted at') && isMounted(mountpoint)) return m;
      const done = await Promise.race([m.exited.then(() => true), sleep(100).then(() => false)]);
      if (done || Date.now() > deadline) {
        child.kill('SIGKILL');
        throw new Error(`mount of ${mountpoint} did not come up:\n${m.output}`);
      }
    }
  }

  /** For test teardown: every mount still running is killed and unmounted. */
  static async killAll(): Promise<void> {
    await Promise.all([...MountProcess.running].map((m) => m.kill9()));
  }

  /** SIGTERM: publish, unmount, exit. Resolves with the exit code. */
  async stop(): Promise<number | null> {
    if (this.child.exitCode === null) this.child.kill('SIGTERM');
    const code = await Promise.race([this.exited, sleep(60_000).then(() => 'timeout' as const)]);
    if (code === 'timeout') {
      this.child.kill('SIGKILL');
      await this.cleanUp();
      throw new Error(`mount did not stop on SIGTERM:\n${this.output}`);
    }
    return code;
  }

  /** kill -9, then waits for the kernel mount to go (auto_unmount). */
  async kill9(): Promise<void> {
    this.child.kill('SIGKILL');
    await this.exited;
    await this.cleanUp();
  }

  private async cleanUp(): Promise<void> {
    for (let i = 0; i < 50 && isMounted(this.mountpoint); i++) await sleep(100);
    if (isMounted(this.mountpoint))
      await sh(`fusermount -uz ${JSON.stringify(this.mountpoint)}`, '/');
  }
}

/** A temporary directory removed by the returned cleanup. */
export async function tempDir(prefix: string): Promise<string> {
  return mkdtemp(join(tmpdir(), prefix));
}

/** Kills every mount process a test left running, then removes `path` (never through a mount). */
export async function removeAll(path: string): Promise<void> {
  await MountProcess.killAll();
  const mounts = readFileSync('/proc/mounts', 'utf8')
    .split('\n')
    .map((line) => line.split(' ')[1])
    .filter((m): m is string => !!m && (m === path || m.startsWith(path + '/')));
  for (const m of mounts) await sh(`fusermount -uz ${JSON.stringify(m)}`, '/');
  await rm(path, { recursive: true, force: true }).catch(() => undefined);
}

/** Polls `fn` until it returns true (or throws after `ms`). */
export async function eventually(
  fn: () => Promise<boolean>,
  ms = 10_000,
  what = 'condition',
): Promise<void> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await fn()) return;
    await sleep(100);
  }
  throw new Error(`${what} not reached within ${ms} ms`);
}

/** A shell command that fsyncs `file` (relative to the command's directory). */
export const fsyncCommand = (file: string): string =>
  `node -e "const f=require('fs');const d=f.openSync(process.argv[1],'r');f.fsyncSync(d);f.closeSync(d)" ${file}`;

/** What every mount-test file shares: one grid of 10 servers and a temporary folder. */
export interface GridSuite {
  test: TestFn;
  /** Serial mount tests, skipped (with the reason printed) where FUSE is unusable. */
  mtest: TestFn['serial'] | TestFn['skip'];
  unavailable: string | undefined;
  grid: TestGrid;
  base: string;
  /** The grid's servers file (servers.yaml in `base`). */
  serversFile: string;
}

/**
 * Registers the before/after hooks that start the grid in a new folder named `prefix…`
 * and, after `stopMounts` (the file's own mounts), stop it and remove the folder. Serial
 * hooks: the file's own `test.serial.before`, registered after this call, runs after it.
 */
export function gridSuite(prefix: string, stopMounts?: () => Promise<void>): GridSuite {
  const test = anyTest as TestFn;
  const unavailable = fuseUnavailable();
  if (unavailable) console.warn(`mount tests skipped: ${unavailable}`);
  const suite = {
    test,
    mtest: unavailable ? test.skip : test.serial,
    unavailable,
  } as GridSuite;
  test.serial.before(async () => {
    if (unavailable) return;
    suite.grid = await TestGrid.start(10);
    suite.base = await tempDir(prefix);
    suite.serversFile = join(suite.base, 'servers.yaml');
    await writeFile(suite.serversFile, suite.grid.serversYaml());
  });
  test.serial.after.always(async () => {
    if (unavailable) return;
    await stopMounts?.().catch(() => undefined);
    await suite.grid?.stop();
    if (suite.base) await removeAll(suite.base);
  });
  return suite;
}
