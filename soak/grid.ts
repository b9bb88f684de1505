// What the soak needs from a grid, so that it runs on the multi-host grid (each server in
// a network namespace behind a delay proxy) or, where namespaces cannot be made, on the
// loopback grid (server processes on 127.0.0.1, faults by signals only).
import type { ChildProcess, SpawnOptions } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startHostsGrid, type LinkSettings } from '../src/grid/hosts/hosts-grid.js';
import { TestGrid } from '../src/mutable/test-support/test-grid.js';
import { spawnOwned } from '../src/storage/test-support/owned-process.js';
import type { ServerFault } from './schedule.js';

export interface SoakServer {
  name: string;
  /** kill -9 of the server process, and starting it again on its old shares. */
  kill(): Promise<void>;
  restart(): Promise<void>;
  /** Answers nothing until unstalled (SIGSTOP, or a proxy that accepts and never answers). */
  stall(variant: number): Promise<void>;
  unstall(): Promise<void>;
  /** Unreachable (link down) until healed. */
  partition(): Promise<void>;
  heal(): Promise<void>;
}

export interface SoakGrid {
  /** Which grid this is, for the report. */
  description: string;
  servers: SoakServer[];
  /** The server faults this grid can play. */
  faults: readonly ServerFault[];
  /** A new client directory (config.toml with these settings) for mounts and the CLI. */
  clientDir(name: string, config: ClientConfig): Promise<string>;
  /** Starts a client-side process (mount, put, dd) where clients live. */
  spawn(command: string, args: string[], options: SpawnOptions): ChildProcess;
  close(): Promise<void>;
}

export interface ClientConfig {
  timeouts: Record<string, number>;
  mount: Record<string, string | number | boolean>;
}

/** config.toml of a client directory (src/client/client-dir.ts reads it). */
export async function writeClientDir(
  dir: string,
  serversFile: string,
  config: ClientConfig,
): Promise<string> {
  await mkdir(join(dir, 'private'), { recursive: true, mode: 0o700 });
  const table = (name: string, values: Record<string, unknown>) => [
    `[${name}]`,
    ...Object.entries(values).map(([k, v]) => `${k} = ${JSON.stringify(v)}`),
  ];
  await writeFile(
    join(dir, 'config.toml'),
    [
      `servers-file = ${JSON.stringify(serversFile)}`,
      'format = "ed25519"',
      ...table('timeouts', config.timeouts),
      ...table('mount', config.mount),
      '',
    ].join('\n'),
  );
  return dir;
}

/** Server processes on loopback: kill and SIGSTOP only (no links to cut). */
export async function loopbackGrid(servers: number, root: string): Promise<SoakGrid> {
  const grid = await TestGrid.start(servers, [], { lowPorts: true });
  const serversFile = join(root, 'servers.yaml');
  await writeFile(serversFile, grid.serversYaml());
  const unsupported = async () => {
    throw new Error('the loopback grid cannot cut links; use the multi-host grid');
  };
  return {
    description: `loopback grid (${servers} server processes on 127.0.0.1; faults: kill -9, SIGSTOP)`,
    faults: ['kill', 'stall'],
    servers: grid.servers.map((s, i) => ({
      name: s.entry.name,
      kill: () => grid.kill(i),
      restart: () => grid.restart(i),
      stall: async () => grid.pause(i),
      unstall: async () => grid.resume(i),
      partition: unsupported,
      heal: unsupported,
    })),
    clientDir: (name, config) => writeClientDir(join(root, name), serversFile, config),
    spawn: (command, args, options) => spawnOwned(command, args, options),
    close: () => grid.stop(),
  };
}

/**
 * The multi-host grid (src/grid/hosts): each server in a network namespace of its own
 * behind a delay proxy playing `link`; the clients in the root namespace. Stalls alternate
 * between SIGSTOP of the server and a proxy that accepts and never answers.
 */
export async function hostsGrid(servers: number, link: LinkSettings): Promise<SoakGrid> {
  const grid = await startHostsGrid({ servers, link });
  const linkText = `${link.delayMs ?? 0} ± ${link.jitterMs ?? 0} ms each way`;
  return {
    description: `multi-host grid (${servers} servers, each in a network namespace of its own behind a delay proxy, ${linkText}; faults: kill -9, SIGSTOP or proxy stall, link down)`,
    faults: ['kill', 'stall', 'partition'],
    servers: grid.servers.map((s) => ({
      name: `server-${s.index}`,
      kill: () => s.kill(),
      restart: async () => {
        if (!s.running) await s.restart();
      },
      stall: (variant) => (variant % 2 === 0 ? s.stop() : s.setLink({ ...link, stall: true })),
      unstall: async () => {
        await s.resume();
        await s.setLink(link);
      },
      partition: () => s.partition(),
      heal: () => s.heal(),
    })),
    clientDir: (_name, config) =>
      grid.clientDir({ format: 'ed25519', timeouts: config.timeouts, mount: config.mount }),
    spawn: (command, args, options) => grid.run(command, args, options),
    close: () => grid.close(),
  };
}
