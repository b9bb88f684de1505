// The soak's writers, each a loop of writes in processes of their own:
//  - MountWriter: a `slotfs mount` process; each write is `dd … conv=fsync` into the
//    mount, or a save as editors do it (python3: new file, fsync, rename over the old,
//    fsync of the folder) — ordinary programs, acknowledged when they exit 0, i.e. after
//    fsync returned; crash() is kill -9 of the mount, then a remount replaying its journal.
//  - PutWriter: `slotfs put FILE` (create) or `slotfs put FILE --to CAP` (update), each a
//    process; acknowledged when it exits 0; crash() is kill -9 of a running put.
// Each file has one writer, which writes it one attempt at a time, so the ledger knows
// the order of its versions.
import type { ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { slotfsCommand } from '../src/grid/local-grid.js';
import type { SoakGrid } from './grid.js';
import type { Ledger } from './ledger.js';

/** python3 -c: write argv[2] from argv[1], fsync, rename to argv[3], fsync the folder argv[4]. */
const ATOMIC_SAVE = [
  'import os, sys',
  'src, tmp, dst, folder = sys.argv[1:5]',
  "data = open(src, 'rb').read()",
  "with open(tmp, 'wb') as f:",
  '    f.write(data); f.flush(); os.fsync(f.fileno())',
  'os.rename(tmp, dst)',
  'd = os.open(folder, os.O_RDONLY); os.fsync(d); os.close(d)',
].join('\n');

const started = Date.now();
/** Seconds since the soak started, for log lines. */
export const elapsed = (): string => `[${((Date.now() - started) / 1000).toFixed(1)}s]`;

export const sha256 = (bytes: Uint8Array): string =>
  createHash('sha256').update(bytes).digest('hex');

/** Content of one attempt: unique (names the attempt) and of a random size. */
export function contentFor(random: () => number, label: string): Uint8Array {
  const size = 64 + Math.floor(random() ** 2 * 48 * 1024);
  const bytes = new Uint8Array(size);
  const head = new TextEncoder().encode(`${label}\n`);
  for (let i = 0; i < size; i++) bytes[i] = i < head.length ? head[i] : (random() * 256) | 0;
  return bytes;
}

interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
  output: string;
}

/** Waits for a child, killing it after `timeoutMs`. */
export function finished(child: ChildProcess, timeoutMs: number): Promise<Exit> {
  return new Promise((resolve) => {
    let output = '';
    child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, output });
    });
  });
}

export interface WriterStats {
  attempts: number;
  acknowledged: number;
  failed: number;
  crashes: number;
}

abstract class Writer {
  readonly stats: WriterStats = { attempts: 0, acknowledged: 0, failed: 0, crashes: 0 };
  private running?: Promise<void>;
  private stopping = false;
  /** Last failure outputs, for the report when nothing gets acknowledged. */
  readonly lastErrors: string[] = [];

  constructor(
    readonly name: string,
    protected readonly grid: SoakGrid,
    protected readonly ledger: Ledger,
    protected readonly random: () => number,
    protected readonly work: string,
    protected readonly files: number,
  ) {}

  /** Runs writes until pause() (which waits for the one in progress). */
  resume(): void {
    this.stopping = false;
    this.running = (async () => {
      while (!this.stopping) {
        await this.step();
        await sleep(Math.floor(this.random() * 300));
      }
    })();
  }

  async pause(): Promise<void> {
    this.stopping = true;
    await this.running;
  }

  protected noteFailure(what: string): void {
    this.stats.failed++;
    this.lastErrors.push(what.slice(-600));
    if (this.lastErrors.length > 3) this.lastErrors.shift();
  }

  protected abstract step(): Promise<void>;
  abstract crash(): Promise<void>;
  abstract close(): Promise<void>;
}

export class MountWriter extends Writer {
  private mount?: ChildProcess;
  private mountExit?: Promise<Exit>;
  private crashing?: Promise<void>;
  private written = 0;
  /** Everything the mount printed, over all its runs, with the soak's clock. */
  readonly log: string[] = [];

  constructor(
    name: string,
    grid: SoakGrid,
    ledger: Ledger,
    random: () => number,
    work: string,
    files: number,
    readonly clientDir: string,
    readonly mountpoint: string,
    /** The writer's folder in the mount (relative). */
    readonly folder: string,
  ) {
    super(name, grid, ledger, random, work, files);
  }

  /** The ledger's name of a file of this writer. */
  fileId(i: number): string {
    return `${this.folder}/f${i}`;
  }

  async start(): Promise<void> {
    await mkdir(this.mountpoint, { recursive: true });
    await mkdir(this.work, { recursive: true });
    const { command, args, cwd } = slotfsCommand();
    this.mount = this.grid.spawn(
      command,
      [...args, 'mount', this.mountpoint, '--foreground', '--dir', this.clientDir],
      { cwd, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const child = this.mount;
    let output = '';
    const collect = (d: Buffer) => {
      output += d.toString();
      this.log.push(
        ...d
          .toString()
          .split('\n')
          .filter(Boolean)
          .map((l) => `${elapsed()} ${l}`),
      );
    };
    child.stdout!.on('data', collect);
    child.stderr!.on('data', collect);
    this.mountExit = new Promise((resolve) =>
      child.once('close', (code, signal) => resolve({ code, signal, output })),
    );
    const deadline = Date.now() + 120_000;
    while (!(output.includes('slotfs: mounted at') && isMounted(this.mountpoint))) {
      if (child.exitCode !== null || child.signalCode !== null || Date.now() > deadline) {
        child.kill('SIGKILL');
        throw new Error(`mount ${this.name} did not come up:\n${output}`);
      }
      await sleep(100);
    }
  }

  protected async step(): Promise<void> {
    await this.crashing;
    const i = Math.floor(this.random() * this.files);
    const file = this.fileId(i);
    const data = contentFor(this.random, `${this.name} ${file} #${this.written++}`);
    const source = join(this.work, 'next');
    await writeFile(source, data);
    const folder = join(this.mountpoint, this.folder);
    const target = join(folder, `f${i}`);
    // Most writes overwrite in place (dd opens with O_TRUNC: until its data arrives the
    // file is empty); some save as editors do: a new file, fsync, rename over, fsync the
    // folder — the name never points at an empty file.
    const save = this.random() < 0.3;
    const index = this.ledger.begin(file, sha256(data), { truncates: !save });
    this.log.push(
      `${elapsed()} soak: ${save ? 'save' : 'dd'} of ${file} attempt ${index} (${data.length} bytes)`,
    );
    this.stats.attempts++;
    const [command, args] = save
      ? ['python3', ['-c', ATOMIC_SAVE, source, `${target}.tmp`, target, folder]]
      : ['dd', [`if=${source}`, `of=${target}`, 'bs=1M', 'conv=fsync', 'status=none']];
    const r = await finished(
      this.grid.spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] }),
      120_000,
    );
    this.log.push(
      `${elapsed()} soak: ${file} attempt ${index}: ${r.code === 0 ? 'acknowledged' : `failed (${r.code ?? r.signal})`}`,
    );
    if (r.code === 0) {
      this.ledger.acknowledge(file, index);
      this.stats.acknowledged++;
    } else {
      this.noteFailure(`${save ? 'save' : 'dd'} ${file}: ${r.code ?? r.signal} ${r.output}`);
    }
  }

  /** kill -9 of the mount, then a remount that replays the journal. */
  crash(): Promise<void> {
    if (this.crashing) return this.crashing;
    this.stats.crashes++;
    this.log.push(`${elapsed()} soak: kill -9 of the mount`);
    this.crashing = (async () => {
      this.mount?.kill('SIGKILL');
      await this.mountExit;
      await unmountGone(this.grid, this.mountpoint);
      await this.start();
    })().finally(() => (this.crashing = undefined));
    return this.crashing;
  }

  /** SIGTERM: publish what is pending, unmount, exit. */
  async close(): Promise<void> {
    await this.crashing?.catch(() => undefined);
    if (this.mount && this.mount.exitCode === null && this.mount.signalCode === null) {
      this.mount.kill('SIGTERM');
      const limit = sleep(120_000, undefined, { ref: false }).then(() => undefined);
      const done = await Promise.race([this.mountExit, limit]);
      if (!done) this.mount.kill('SIGKILL');
      await this.mountExit;
    }
    await unmountGone(this.grid, this.mountpoint);
  }
}

export class PutWriter extends Writer {
  /** Caps of the files created so far (index → cap). */
  readonly caps: string[] = [];
  private current?: ChildProcess;
  private written = 0;

  constructor(
    name: string,
    grid: SoakGrid,
    ledger: Ledger,
    random: () => number,
    work: string,
    files: number,
    readonly clientDir: string,
  ) {
    super(name, grid, ledger, random, work, files);
  }

  fileId(i: number): string {
    return `${this.name}/f${i}`;
  }

  protected async step(): Promise<void> {
    await mkdir(this.work, { recursive: true });
    const i =
      this.caps.length < this.files ? this.caps.length : Math.floor(this.random() * this.files);
    const file = this.fileId(i);
    const data = contentFor(this.random, `${this.name} ${file} #${this.written++}`);
    const source = join(this.work, 'next');
    await writeFile(source, data);
    const cap = this.caps[i];
    // A create that fails leaves no cap to check, so only updates are recorded up front.
    const index = cap ? this.ledger.begin(file, sha256(data)) : -1;
    this.stats.attempts++;
    const { command, args, cwd } = slotfsCommand();
    const child = this.grid.spawn(
      command,
      [...args, 'put', source, '--dir', this.clientDir, ...(cap ? ['--to', cap] : [])],
      { cwd, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    this.current = child;
    let stdout = '';
    child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
    const r = await finished(child, 180_000);
    this.current = undefined;
    if (r.code !== 0) {
      this.noteFailure(`put ${file}: ${r.code ?? r.signal} ${r.output}`);
      return;
    }
    if (!cap) {
      this.caps[i] = stdout.trim();
      this.ledger.acknowledge(file, this.ledger.begin(file, sha256(data)));
    } else {
      this.ledger.acknowledge(file, index);
    }
    this.stats.acknowledged++;
  }

  async crash(): Promise<void> {
    if (!this.current) return;
    this.stats.crashes++;
    this.current.kill('SIGKILL');
  }

  async close(): Promise<void> {
    this.current?.kill('SIGKILL');
  }
}

export function isMounted(mountpoint: string): boolean {
  return readFileSync('/proc/mounts', 'utf8')
    .split('\n')
    .some((line) => line.split(' ')[1] === mountpoint);
}

/** After the mount process is gone: wait for auto-unmount, else unmount lazily. */
export async function unmountGone(grid: SoakGrid, mountpoint: string): Promise<void> {
  for (let i = 0; i < 50 && isMounted(mountpoint); i++) await sleep(100);
  if (isMounted(mountpoint)) {
    await finished(grid.spawn('fusermount', ['-uz', mountpoint], { stdio: 'ignore' }), 30_000);
  }
}
