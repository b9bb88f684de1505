// A local grid: N `slotfs server` processes on loopback, one directory each
// (DIR/server-<i>), started detached so they outlive the command that started them, and
// the servers file (DIR/servers.yaml) clients read to find them. Used by `slotfs grid`,
// by tests, and later by `npm start`.
//
// Identity and port live in each server's directory (the server reuses its previous port
// when it is free), so `up` after `down` brings back the same NURLs.
import { spawn } from 'node:child_process';
import { closeSync, openSync, readdirSync, statSync, writeSync } from 'node:fs';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { fromBase32 } from '../encoding/base32.js';
import { HttpStorageClient } from './http-client.js';
import { alive } from './process-alive.js';

export { alive };
import { formatServersYaml, type ServerEntry } from './servers.js';

export const SERVERS_FILE = 'servers.yaml';
export const DEFAULT_SERVER_COUNT = 10;
const SERVER_DIR_RE = /^server-(\d+)$/;
const FILES = { pid: 'server.pid', nurl: 'node.url', info: 'node.json', log: 'server.log' };

export class LocalGridError extends Error {
  readonly code = 'ERR_LOCAL_GRID';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'LocalGridError';
  }
}

export interface GridUpOptions {
  dir: string;
  /** How many servers (default: as many as DIR already has, else 10). */
  servers?: number;
  /** How long to wait for each server to answer its version document (default 60 s). */
  readyTimeoutMs?: number;
  /** Extra arguments for `slotfs server` (e.g. ['--max-share-size', '1000000']). */
  serverArgs?: string[];
  /** Extra arguments for the servers' node processes (e.g. --cpu-prof, for benchmarks). */
  nodeArgs?: string[];
}

export interface GridUpResult {
  servers: ServerEntry[];
  /** Names of servers this call started, and of those that were already running. */
  started: string[];
  alreadyRunning: string[];
  serversFile: string;
}

export interface ServerStatus {
  name: string;
  dir: string;
  /** pid of a live server process, else null. */
  pid: number | null;
  /** Answered its version document just now. */
  answering: boolean;
  nurl: string | null;
  nodeId: string | null;
  /** Share files on disk, and their total size in bytes. */
  shares: number;
  shareBytes: number;
  /** Space the whole server directory takes on disk (allocated blocks). */
  diskBytes: number;
  /** Why it does not answer, if it does not. */
  problem?: string;
}

export interface GridDownResult {
  /** Stopped with SIGTERM, killed with SIGKILL after the grace period, already stopped. */
  stopped: string[];
  killed: string[];
  notRunning: string[];
}

/**
 * How to run this very `slotfs` as a child process: built (dist/) when this runs built;
 * from source it runs source under tsx — unless a build newer than every source file is
 * there (CI builds before testing), whose processes start with a third of the CPU time.
 * Tests start hundreds of servers and mounts. SLOTFS_FROM_SOURCE=1 always runs source.
 */
export function slotfsCommand(): { command: string; args: string[]; cwd: string } {
  const here = fileURLToPath(import.meta.url);
  // src/grid or dist/grid → the package root (tsx finds tsconfig.json there).
  const cwd = path.resolve(path.dirname(here), '..', '..');
  const fromSource = here.endsWith('.ts');
  // Checked once per process: a build does not go stale while tests run.
  if (fromSource && process.env.SLOTFS_FROM_SOURCE !== '1') current ??= buildIsCurrent(cwd);
  if (!fromSource || (current && process.env.SLOTFS_FROM_SOURCE !== '1'))
    return { command: process.execPath, args: [path.join(cwd, 'dist', 'cli', 'main.js')], cwd };
  const main = path.join(cwd, 'src', 'cli', 'main.ts');
  return { command: process.execPath, args: [`--import=${import.meta.resolve('tsx')}`, main], cwd };
}

let current: boolean | undefined;

/**
 * Whether the package at `root` has a build (dist/cli/main.js) newer than every source file
 * it was built from. SLOTFS_FROM_SOURCE=1: never.
 */
export function buildIsCurrent(root: string): boolean {
  if (process.env.SLOTFS_FROM_SOURCE === '1') return false;
  try {
    return (
      statSync(path.join(root, 'dist', 'cli', 'main.js')).mtimeMs >
      newestSource(path.join(root, 'src'))
    );
  } catch {
    return false; // no build (or no sources)
  }
}

/** The newest mtime of the files `npm run build` compiles (not tests nor test support). */
function newestSource(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const at = path.join(dir, entry.name);
    if (entry.isDirectory()) {
      if (entry.name !== 'test-support') newest = Math.max(newest, newestSource(at));
    } else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.test.ts')) {
      newest = Math.max(newest, statSync(at).mtimeMs);
    }
  }
  return newest;
}

function serverName(index: number): string {
  return `server-${index}`;
}

async function existingServerDirs(dir: string): Promise<Array<{ index: number; dir: string }>> {
  let names: string[];
  try {
    names = await fs.readdir(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  return names
    .map((n) => SERVER_DIR_RE.exec(n))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => ({ index: Number(m[1]), dir: path.join(dir, m[0]) }))
    .sort((a, b) => a.index - b.index);
}

async function readText(file: string): Promise<string | undefined> {
  try {
    return (await fs.readFile(file, 'utf8')).trim();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/**
 * The pid of the server process serving `serverDir`, if one is alive. On Linux the
 * command line is checked too, so a recycled pid is never mistaken for (or killed as) it.
 */
export async function livePid(serverDir: string): Promise<number | null> {
  const text = await readText(path.join(serverDir, FILES.pid));
  const pid = Number(text);
  if (!text || !Number.isSafeInteger(pid) || pid <= 1) return null;
  // (EPERM counts as dead: a process we may not signal is not a server we started.)
  if (!alive(pid)) return null;
  try {
    const cmdline = (await fs.readFile(`/proc/${pid}/cmdline`, 'utf8')).split('\0');
    const i = cmdline.indexOf('--dir');
    const ours = cmdline.includes('server') && i >= 0 && path.resolve(cmdline[i + 1]) === serverDir;
    return ours ? pid : null;
  } catch {
    // No /proc (not Linux), or the process just exited: trust kill(0).
    return process.platform === 'linux' ? null : pid;
  }
}

/** Reads node.json + node.url of a server directory into a ServerEntry. */
async function entryOf(serverDir: string, name: string): Promise<ServerEntry | undefined> {
  const nurl = await readText(path.join(serverDir, FILES.nurl));
  const infoText = await readText(path.join(serverDir, FILES.info));
  if (!nurl || !infoText) return undefined;
  try {
    const info = JSON.parse(infoText) as { nodeId: string; permutationSeed: string };
    return {
      id: fromBase32(info.nodeId),
      permutationSeed: fromBase32(info.permutationSeed),
      name,
      nurl,
    };
  } catch (cause) {
    throw new LocalGridError(`${path.join(serverDir, FILES.info)} is not valid`, { cause });
  }
}

/** Asks for the version document once; resolves to the reason it failed, or null. */
async function probe(entry: ServerEntry, timeoutMs: number): Promise<string | null> {
  const client = new HttpStorageClient(entry, {
    timeouts: { connectMs: timeoutMs, headersMs: timeoutMs, bodyMs: timeoutMs },
    connections: 1,
  });
  try {
    await client.getVersion();
    return null;
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  } finally {
    await client.close();
  }
}

async function logTail(serverDir: string): Promise<string> {
  const text = (await readText(path.join(serverDir, FILES.log))) ?? '';
  return text.split('\n').slice(-8).join('\n');
}

/** Starts one detached server process; its output is appended to server.log. */
async function spawnServer(
  serverDir: string,
  extraArgs: string[],
  nodeArgs: string[] = [],
): Promise<number> {
  await fs.mkdir(serverDir, { recursive: true });
  // A node.url left by a killed server must not be taken for the new one's.
  await fs.rm(path.join(serverDir, FILES.nurl), { force: true });
  const { command, args, cwd } = slotfsCommand();
  const log = openSync(path.join(serverDir, FILES.log), 'a');
  try {
    writeSync(log, `--- ${new Date().toISOString()} slotfs grid: starting server\n`);
    const child = spawn(
      command,
      [...nodeArgs, ...args, 'server', '--dir', serverDir, ...extraArgs],
      {
        cwd,
        detached: true,
        stdio: ['ignore', log, log],
      },
    );
    const pid = await new Promise<number>((resolve, reject) => {
      child.once('spawn', () => resolve(child.pid!));
      child.once('error', (err) =>
        reject(new LocalGridError(`cannot start ${command}`, { cause: err })),
      );
    });
    child.unref();
    await fs.writeFile(path.join(serverDir, FILES.pid), `${pid}\n`);
    return pid;
  } finally {
    closeSync(log);
  }
}

/** Waits until the server in `serverDir` (pid) writes node.url and answers. */
async function waitReady(
  serverDir: string,
  name: string,
  pid: number,
  timeoutMs: number,
): Promise<ServerEntry> {
  const deadline = Date.now() + timeoutMs;
  let problem = 'it has not written node.url yet';
  while (Date.now() < deadline) {
    if (!alive(pid)) {
      throw new LocalGridError(
        `${name} (pid ${pid}) exited during start-up; last lines of ${path.join(serverDir, FILES.log)}:\n${await logTail(serverDir)}`,
      );
    }
    const entry = await entryOf(serverDir, name);
    if (entry) {
      const failure = await probe(entry, 2000);
      if (failure === null) return entry;
      problem = failure;
    }
    await sleep(100);
  }
  throw new LocalGridError(
    `${name} (pid ${pid}) did not answer within ${timeoutMs} ms (${problem}); see ${path.join(serverDir, FILES.log)}`,
  );
}

/**
 * Starts the servers of a local grid that are not already running (a live pid that
 * answers), waits for all of them, and writes DIR/servers.yaml.
 */
export async function gridUp(options: GridUpOptions): Promise<GridUpResult> {
  const dir = path.resolve(options.dir);
  await fs.mkdir(dir, { recursive: true });
  const existing = await existingServerDirs(dir);
  const count = options.servers ?? (existing.length || DEFAULT_SERVER_COUNT);
  if (!Number.isSafeInteger(count) || count < 1 || count > 255) {
    throw new LocalGridError(`the number of servers must be 1..255, got ${count}`);
  }
  const timeoutMs = options.readyTimeoutMs ?? 60_000;
  const started: string[] = [];
  const alreadyRunning: string[] = [];
  const outcomes = await Promise.allSettled(
    Array.from({ length: count }, async (_, index) => {
      const name = serverName(index);
      const serverDir = path.join(dir, name);
      const pid = await livePid(serverDir);
      if (pid !== null) {
        // Running already (or still starting): wait for it rather than start a duplicate.
        const entry = await waitReady(serverDir, name, pid, timeoutMs);
        alreadyRunning.push(name);
        return entry;
      }
      const newPid = await spawnServer(serverDir, options.serverArgs ?? [], options.nodeArgs);
      started.push(name);
      return waitReady(serverDir, name, newPid, timeoutMs);
    }),
  );
  const failed = outcomes.find((o): o is PromiseRejectedResult => o.status === 'rejected');
  if (failed) {
    // Leave nothing half-started behind: stop what this call started.
    await stopServers(dir, started).catch(() => undefined);
    throw failed.reason;
  }
  const servers = outcomes.map((o) => (o as PromiseFulfilledResult<ServerEntry>).value);
  const serversFile = path.join(dir, SERVERS_FILE);
  const temp = `${serversFile}.tmp-${process.pid}`;
  await fs.writeFile(temp, formatServersYaml(servers));
  await fs.rename(temp, serversFile);
  return { servers, started: started.sort(), alreadyRunning: alreadyRunning.sort(), serversFile };
}

async function stopServers(dir: string, names: string[], graceMs = 5000): Promise<GridDownResult> {
  const result: GridDownResult = { stopped: [], killed: [], notRunning: [] };
  await Promise.all(
    names.map(async (name) => {
      const serverDir = path.join(dir, name);
      const pid = await livePid(serverDir);
      if (pid === null) {
        result.notRunning.push(name);
        await fs.rm(path.join(serverDir, FILES.pid), { force: true });
        return;
      }
      process.kill(pid, 'SIGTERM');
      // The server removes its pid file while it stops, so follow the pid itself now.
      const deadline = Date.now() + graceMs;
      while (alive(pid) && Date.now() < deadline) await sleep(50);
      if (alive(pid)) {
        process.kill(pid, 'SIGKILL');
        while (alive(pid)) await sleep(20);
        result.killed.push(name);
      } else {
        result.stopped.push(name);
      }
      await fs.rm(path.join(serverDir, FILES.pid), { force: true });
    }),
  );
  for (const list of Object.values(result)) list.sort();
  return result;
}

/** Stops every server of the grid in DIR: SIGTERM, then SIGKILL after `graceMs`. */
export async function gridDown(options: {
  dir: string;
  graceMs?: number;
}): Promise<GridDownResult> {
  const dir = path.resolve(options.dir);
  const names = (await existingServerDirs(dir)).map((d) => path.basename(d.dir));
  return stopServers(dir, names, options.graceMs);
}

async function diskUsage(
  serverDir: string,
): Promise<{ shares: number; shareBytes: number; diskBytes: number }> {
  const totals = { shares: 0, shareBytes: 0, diskBytes: 0 };
  const sharesRoot = path.join(serverDir, 'shares');
  const walk = async (d: string, depth: number): Promise<void> => {
    let entries;
    try {
      entries = await fs.readdir(d, { withFileTypes: true });
    } catch {
      return; // vanished while walking (a share deleted meanwhile)
    }
    for (const e of entries) {
      const p = path.join(d, e.name);
      const st = await fs.lstat(p).catch(() => undefined);
      if (!st) continue;
      totals.diskBytes += st.blocks * 512;
      if (e.isDirectory()) await walk(p, depth + 1);
      // shares/<xx>/<si>/<shnum>: only decimal names at that depth are shares.
      else if (e.isFile() && d.startsWith(sharesRoot) && depth === 3 && /^\d+$/.test(e.name)) {
        totals.shares += 1;
        totals.shareBytes += st.size;
      }
    }
  };
  await walk(serverDir, 0);
  return totals;
}

/** What each server of the grid in DIR is doing, and what it holds. */
export async function gridStatus(options: {
  dir: string;
  timeoutMs?: number;
}): Promise<ServerStatus[]> {
  const dir = path.resolve(options.dir);
  return Promise.all(
    (await existingServerDirs(dir)).map(async ({ dir: serverDir }) => {
      const name = path.basename(serverDir);
      const pid = await livePid(serverDir);
      const entry = await entryOf(serverDir, name).catch(() => undefined);
      let problem: string | undefined;
      if (pid === null) problem = 'not running';
      else if (!entry) problem = 'no node.url yet (starting?)';
      else problem = (await probe(entry, options.timeoutMs ?? 3000)) ?? undefined;
      const info = await readText(path.join(serverDir, FILES.info));
      let nodeId: string | null = null;
      try {
        nodeId = info ? (JSON.parse(info) as { nodeId: string }).nodeId : null;
      } catch {
        nodeId = null;
      }
      return {
        name,
        dir: serverDir,
        pid,
        answering: problem === undefined,
        nurl: entry?.nurl ?? null,
        nodeId,
        ...(await diskUsage(serverDir)),
        ...(problem === undefined ? {} : { problem }),
      };
    }),
  );
}
