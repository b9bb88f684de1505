// Test helper: mutable-file clients as separate processes (see writer-process.ts), each
// with its own cache directory, talking to the servers of a TestGrid.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { toBase32 } from '../../encoding/base32.js';
import { REPO_ROOT } from '../../storage/test-support/server-process.js';
import type { TestGrid } from './test-grid.js';
import type { WriterCommand, WriterConfig, WriterReply } from './writer-process.js';

const SCRIPT = path.join(path.dirname(fileURLToPath(import.meta.url)), 'writer-process.ts');

type Command = WriterCommand extends infer C
  ? C extends { id: number }
    ? Omit<C, 'id'>
    : never
  : never;

export class WriterProcess {
  private nextId = 1;
  private readonly pending = new Map<number, (reply: WriterReply) => void>();
  private stderr = '';
  private readonly exited: Promise<unknown>;

  private constructor(
    readonly name: string,
    private readonly proc: ChildProcess,
    private readonly cacheDir: string,
  ) {
    this.exited = new Promise((resolve) => proc.once('exit', resolve));
    proc.stderr!.setEncoding('utf8').on('data', (d: string) => (this.stderr += d));
  }

  static async start(
    name: string,
    grid: TestGrid,
    options: Partial<Omit<WriterConfig, 'servers' | 'cacheDir'>> = {},
  ): Promise<WriterProcess> {
    const cacheDir = await mkdtemp(path.join(tmpdir(), `slotfs-writer-${name}-`));
    const config: WriterConfig = {
      servers: grid.servers.map((s) => ({
        id: toBase32(s.entry.id),
        name: s.entry.name,
        nurl: s.entry.nurl,
        permutationSeed: toBase32(s.entry.permutationSeed),
      })),
      cacheDir: path.join(cacheDir, 'cache'),
      timeoutMs: 10_000,
      ...options,
    };
    const proc = spawn(process.execPath, ['--import=tsx', SCRIPT, JSON.stringify(config)], {
      cwd: REPO_ROOT,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const writer = new WriterProcess(name, proc, cacheDir);
    await new Promise<void>((resolve, reject) => {
      let buffer = '';
      let ready = false;
      const timer = setTimeout(() => reject(new Error(`writer ${name} did not start`)), 120_000);
      proc.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
        buffer += chunk;
        let nl;
        while ((nl = buffer.indexOf('\n')) >= 0) {
          const line = buffer.slice(0, nl);
          buffer = buffer.slice(nl + 1);
          const message = JSON.parse(line) as WriterReply | { ready: true };
          if ('ready' in message) {
            ready = true;
            clearTimeout(timer);
            resolve();
            continue;
          }
          writer.pending.get(message.id)?.(message);
          writer.pending.delete(message.id);
        }
      });
      void writer.exited.then(() => {
        if (!ready) reject(new Error(`writer ${name} exited: ${writer.stderr}`));
        for (const done of writer.pending.values()) {
          done({ id: 0, ok: false, error: { name: 'Exited', message: writer.stderr } });
        }
      });
    });
    return writer;
  }

  send(command: Command): Promise<WriterReply> {
    const id = this.nextId++;
    return new Promise((resolve) => {
      this.pending.set(id, resolve);
      this.proc.stdin!.write(`${JSON.stringify({ ...command, id })}\n`);
    });
  }

  async stop(): Promise<void> {
    if (this.proc.exitCode === null && this.proc.signalCode === null) {
      this.proc.stdin!.write(`${JSON.stringify({ id: 0, op: 'exit' })}\n`);
      const timer = setTimeout(() => this.proc.kill('SIGKILL'), 10_000);
      await this.exited;
      clearTimeout(timer);
    }
    await rm(this.cacheDir, { recursive: true, force: true });
  }
}
