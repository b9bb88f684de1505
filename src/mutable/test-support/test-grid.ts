// Test helper: a grid of real `slotfs server` processes on loopback, with one HTTP storage
// client per server. Servers can be killed and restarted (same directory, same port and
// identity) to play crashed or returning servers.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fromBase32, toBase32 } from '../../encoding/base32.js';
import { HttpStorageClient } from '../../grid/http-client.js';
import { mapLimited } from '../../grid/map-limited.js';
import type { ServerEntry } from '../../grid/servers.js';
import { spawnServer, type ServerProcess } from '../../storage/test-support/server-process.js';

export interface TestServer {
  dir: string;
  entry: ServerEntry;
  process: ServerProcess;
}

export class TestGrid {
  private constructor(
    readonly root: string,
    readonly servers: TestServer[],
  ) {}

  /**
   * `lowPorts`: listen on ports below the kernel's ephemeral range (picked at random), so a
   * killed server's port cannot be taken by some client's outgoing connection before
   * restart() needs it again (the soak restarts servers while clients are busy).
   */
  static async start(
    count: number,
    args: string[] = [],
    options: { lowPorts?: boolean } = {},
  ): Promise<TestGrid> {
    const root = await mkdtemp(join(tmpdir(), 'slotfs-grid-'));
    // A few at a time: starting many Node processes at once on two cores only thrashes.
    const servers = await mapLimited(
      Array.from({ length: count }, (_, i) => i),
      4,
      async (i) => {
        const dir = join(root, `server-${i}`);
        const process = options.lowPorts
          ? await spawnOnLowPort(dir, args)
          : await spawnServer(dir, ['--port', '0', ...args], 120_000);
        const info = JSON.parse(await readFile(join(dir, 'node.json'), 'utf8')) as {
          nodeId: string;
          permutationSeed: string;
        };
        const entry: ServerEntry = {
          id: fromBase32(info.nodeId),
          name: `server-${i}`,
          nurl: process.nurl,
          permutationSeed: fromBase32(info.permutationSeed),
        };
        return { dir, entry, process };
      },
    );
    return new TestGrid(root, servers);
  }

  /** Fresh storage clients (one per server), with short timeouts for tests. */
  clients(timeoutMs = 5000): HttpStorageClient[] {
    return this.servers.map(
      (s) =>
        new HttpStorageClient(s.entry, {
          timeouts: { connectMs: timeoutMs, headersMs: timeoutMs, bodyMs: timeoutMs },
        }),
    );
  }

  /** servers.yaml text for the CLI. */
  serversYaml(): string {
    return (
      'servers:\n' +
      this.servers
        .map(
          (s) =>
            `  ${toBase32(s.entry.id)}:\n    name: ${s.entry.name}\n    nurl: "${s.entry.nurl}"\n    permutation-seed: ${toBase32(s.entry.permutationSeed)}\n`,
        )
        .join('')
    );
  }

  async kill(i: number): Promise<void> {
    await this.servers[i].process.kill();
  }

  /**
   * SIGSTOP: the process keeps its sockets but answers nothing — a true stall, which only
   * the client's timeouts end. resume() (SIGCONT) lets it carry on where it stopped.
   */
  pause(i: number): void {
    const { proc } = this.servers[i].process;
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGSTOP');
    this.paused.add(i);
  }

  resume(i: number): void {
    const { proc } = this.servers[i].process;
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGCONT');
    this.paused.delete(i);
  }

  private readonly paused = new Set<number>();

  /** Starts server i again on its old port with its old identity and shares. */
  async restart(i: number): Promise<void> {
    const s = this.servers[i];
    if (this.paused.has(i)) this.resume(i);
    await s.process.kill();
    s.process = await spawnServer(s.dir, ['--port', String(s.process.parsed.port)], 120_000);
  }

  async stop(): Promise<void> {
    for (const i of this.paused) this.resume(i);
    await Promise.all(this.servers.map((s) => s.process.kill()));
    await rm(this.root, { recursive: true, force: true });
  }
}

/** A server on a random free port in 20000–32767 (below Linux's default ephemeral range). */
async function spawnOnLowPort(dir: string, args: string[]): Promise<ServerProcess> {
  for (let attempt = 1; ; attempt++) {
    const port = 20000 + Math.floor(Math.random() * 12768);
    try {
      return await spawnServer(dir, ['--port', String(port), ...args], 120_000);
    } catch (err) {
      if (attempt >= 10 || !/EADDRINUSE/.test(String(err))) throw err;
    }
  }
}
