// A grid across "hosts" on one machine: each storage server in a network namespace of its
// own, wired by a veth pair to a bridge that lives in another namespace, reachable only at
// that namespace's address — through a delay proxy (delay-proxy.ts) that plays the link's
// latency, loss and stalls, since netem is not available. The server itself listens on its
// namespace's loopback, so nothing reaches it but through the proxy. The client is in a
// namespace of its own or in the root one. Needs root (CAP_NET_ADMIN), as in CI.
//
//   client ns / root ──veth── [bridge ns: br0] ──veth── server ns i: proxy IP:3456 → 127.0.0.1:3457
//
// Partitions take a bridge port down; kill/restart, stop/resume act on the server process.
import type { ChildProcess, SpawnOptions } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { randomBytes, randomInt } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { stringify as stringifyToml } from 'smol-toml';
import { fromBase32 } from '../../encoding/base32.js';
import { formatNurl, parseNurl } from '../../storage/protocol.js';
import { alive } from '../process-alive.js';
import { slotfsCommand } from '../local-grid.js';
import { mapLimited } from '../map-limited.js';
import { formatServersYaml, type ServerEntry } from '../servers.js';
import { validateLinkSettings, type LinkSettings } from './link-settings.js';
import { NAME_PREFIX, addressPlan, freeNetwork, ownerPid, runPrefix } from './names.js';
import {
  HostsGridError,
  deleteNamespace,
  ip,
  listNamespaces,
  netnsPath,
  setLinkState,
} from './netns.js';
import {
  disownNamespace,
  disownTempDir,
  exited,
  killChild,
  ownNamespace,
  ownTempDir,
  spawnInNamespace,
  waitForLine,
} from './ns-process.js';

export { HostsGridError } from './netns.js';
export type { LinkSettings } from './link-settings.js';

/** Inside every server namespace: the proxy's port (the one in the NURL) and the server's. */
export const PROXY_PORT = 3456;
export const SERVER_PORT = 3457;
const READY_MS = 120_000;

export interface HostServer {
  index: number;
  /** The namespace's IP address; the proxy listens there. */
  address: string;
  /** The NURL clients use (the proxy's address and port). */
  furl: string;
  /** base32 node id. */
  nodeId: string;
  /** The server's directory (shares, identity, server.log). */
  dir: string;
  namespace: string;
  entry: ServerEntry;
  /** Reconfigures this server's delay proxy while it runs. */
  setLink(settings: LinkSettings): Promise<void>;
  /** Takes the link down: nothing passes either way until heal(). */
  partition(): Promise<void>;
  heal(): Promise<void>;
  /** SIGKILL of the server process (the proxy stays: clients are refused, not stalled). */
  kill(): Promise<void>;
  /** Starts the server again on the same directory and port. */
  restart(): Promise<void>;
  /** SIGSTOP / SIGCONT of the server process. */
  stop(): Promise<void>;
  resume(): Promise<void>;
  readonly running: boolean;
}

/** config.toml settings for clientDir(); see src/client/client-dir.ts for the keys. */
export interface ClientDirSettings {
  format?: 'ed25519' | 'tahoe';
  k?: number;
  n?: number;
  happy?: number;
  epsilon?: number;
  timeouts?: Record<string, number>;
  mount?: Record<string, string | number | boolean>;
}

export interface HostsGrid {
  servers: HostServer[];
  /** The client's namespace; undefined when the client is in the root namespace. */
  clientNamespace?: string;
  /** The client's address on the grid network. */
  clientAddress: string;
  /** The grid's folder (servers, client directories, servers.yaml). */
  root: string;
  serversFile: string;
  /** A new client directory (config.toml naming this grid's servers) for the CLI or a mount. */
  clientDir(settings?: ClientDirSettings): Promise<string>;
  /** Takes the client's link down (every server unreachable) / up again. */
  partitionClient(): Promise<void>;
  healClient(): Promise<void>;
  /** Sets every server's link at once. */
  setLinkAll(settings: LinkSettings): Promise<void>;
  /** spawn() in the client's namespace, killed at close() or when this process ends. */
  run(command: string, args: string[], options?: SpawnOptions): ChildProcess;
  /** Removes every namespace, veth, bridge, process and temporary directory. */
  close(): Promise<void>;
}

export interface HostsGridOptions {
  servers: number;
  /** Initial link of every server. */
  link?: LinkSettings;
  /** Put the client in a namespace of its own (default: the root namespace). */
  clientNamespace?: boolean;
  /** Extra `slotfs server` arguments. */
  serverArgs?: string[];
}

let availability: Promise<{ ok: true } | { ok: false; reason: string }> | undefined;

/**
 * Whether namespaces, veths and bridges can be made here (tried once per process, with a
 * namespace made and removed again); the reason when not.
 */
export function hostsAvailable(): Promise<{ ok: true } | { ok: false; reason: string }> {
  availability ??= (async () => {
    if (process.platform !== 'linux') return { ok: false, reason: 'network namespaces need Linux' };
    const probe = `${runPrefix(process.pid, randomBytes(3).toString('hex'))}probe`;
    try {
      await ip(['netns', 'add', probe]);
    } catch (err) {
      return {
        ok: false,
        reason: `cannot make a network namespace (needs root and iproute2): ${(err as Error).message}`,
      };
    }
    try {
      await ip(['-n', probe, 'link', 'add', 'br0', 'type', 'bridge']);
      await ip(['-n', probe, 'link', 'add', 'probe0', 'type', 'veth', 'peer', 'name', 'probe1']);
      await new Promise<void>((resolve, reject) => {
        const child = spawnInNamespace(probe, 'true', [], { stdio: 'ignore' });
        child.once('error', reject);
        child.once('exit', (code) =>
          code === 0 ? resolve() : reject(new Error(`nsenter exited ${code}`)),
        );
      });
      return { ok: true };
    } catch (err) {
      return { ok: false, reason: `cannot build a bridged network: ${(err as Error).message}` };
    } finally {
      await deleteNamespace(probe).catch(() => undefined);
    }
  })();
  return availability;
}

/**
 * Removes what runs that died without closing left: namespaces (with their processes and
 * veths) and temporary folders named after a pid that is gone. Returns what it removed.
 */
export async function sweepStale(): Promise<string[]> {
  const removed: string[] = [];
  for (const name of await listNamespaces()) {
    const pid = ownerPid(name);
    if (pid === undefined || pid === process.pid || alive(pid)) continue;
    await deleteNamespace(name).catch(() => undefined);
    removed.push(name);
  }
  const tmp = tmpdir();
  for (const name of await readdir(tmp).catch(() => [] as string[])) {
    const pid = ownerPid(name);
    if (pid === undefined || pid === process.pid || alive(pid)) continue;
    await rm(path.join(tmp, name), { recursive: true, force: true }).catch(() => undefined);
    removed.push(path.join(tmp, name));
  }
  return removed;
}

/** How to run the delay proxy as a process (from source under tsx, or built). */
function proxyCommand(): { command: string; args: string[] } {
  const here = fileURLToPath(import.meta.url);
  const fromSource = here.endsWith('.ts');
  const main = path.join(
    path.dirname(here),
    fromSource ? 'delay-proxy-main.ts' : 'delay-proxy-main.js',
  );
  const args = fromSource ? [`--import=${import.meta.resolve('tsx')}`, main] : [main];
  return { command: process.execPath, args };
}

/** Talks to one running proxy process over its stdin/stdout, one request at a time. */
class ProxyControl {
  private chain: Promise<void> = Promise.resolve();
  private readonly waiting: Array<(line: string) => void> = [];
  private buffered = '';

  constructor(
    readonly child: ChildProcess,
    private readonly name: string,
  ) {
    child.stdout!.on('data', (d: Buffer) => {
      this.buffered += d.toString();
      let nl: number;
      while ((nl = this.buffered.indexOf('\n')) >= 0) {
        const line = this.buffered.slice(0, nl);
        this.buffered = this.buffered.slice(nl + 1);
        if (line.startsWith('listening')) continue;
        this.waiting.shift()?.(line);
      }
    });
  }

  set(settings: LinkSettings): Promise<void> {
    const link = validateLinkSettings(settings, `link of ${this.name}`);
    const next = this.chain.then(
      () =>
        new Promise<void>((resolve, reject) => {
          if (this.child.exitCode !== null || this.child.signalCode !== null) {
            reject(new HostsGridError(`the delay proxy of ${this.name} is not running`));
            return;
          }
          const timer = setTimeout(
            () => reject(new HostsGridError(`the delay proxy of ${this.name} did not answer`)),
            10_000,
          );
          this.waiting.push((line) => {
            clearTimeout(timer);
            if (line === 'ok') resolve();
            else reject(new HostsGridError(`delay proxy of ${this.name}: ${line}`));
          });
          this.child.stdin!.write(JSON.stringify(link) + '\n');
        }),
    );
    this.chain = next.catch(() => undefined);
    return next;
  }
}

class Server implements HostServer {
  furl = '';
  nodeId = '';
  entry!: ServerEntry;
  private process: ChildProcess | undefined;
  private proxy: ProxyControl | undefined;

  constructor(
    readonly index: number,
    readonly address: string,
    readonly dir: string,
    readonly namespace: string,
    private readonly bridge: string,
    private readonly serverArgs: string[],
    private readonly owned: Set<ChildProcess>,
  ) {}

  get name(): string {
    return `server-${this.index}`;
  }

  /** The bridge's end of this server's veth pair. */
  get port(): string {
    return `s${this.index}`;
  }

  get running(): boolean {
    const p = this.process;
    return p !== undefined && p.exitCode === null && p.signalCode === null;
  }

  async startProxy(link: LinkSettings): Promise<void> {
    const { command, args } = proxyCommand();
    const child = spawnInNamespace(
      this.namespace,
      command,
      [...args, `${this.address}:${PROXY_PORT}`, `127.0.0.1:${SERVER_PORT}`, JSON.stringify(link)],
      { stdio: ['pipe', 'pipe', 'pipe'] },
    );
    this.owned.add(child);
    await waitForLine(child, /^listening /m, READY_MS, `the delay proxy of ${this.name}`);
    this.proxy = new ProxyControl(child, this.name);
  }

  async startServer(): Promise<void> {
    if (this.running) throw new HostsGridError(`${this.name} is already running`);
    await mkdir(this.dir, { recursive: true });
    const { command, args, cwd } = slotfsCommand();
    const child = spawnInNamespace(
      this.namespace,
      command,
      [
        ...args,
        'server',
        '--dir',
        this.dir,
        '--host',
        '127.0.0.1',
        '--port',
        String(SERVER_PORT),
        ...this.serverArgs,
      ],
      { cwd, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    this.owned.add(child);
    const log = createWriteStream(path.join(this.dir, 'server.log'), { flags: 'a' });
    child.stdout!.pipe(log);
    child.stderr!.pipe(log);
    const m = await waitForLine(
      child,
      /listening at (pb:\/\/\S+#v=1)/,
      READY_MS,
      `${this.name} (in ${this.namespace})`,
    );
    this.process = child;
    const nurl = parseNurl(m[1]);
    this.furl = formatNurl({ ...nurl, host: this.address, port: PROXY_PORT });
    const info = JSON.parse(await readFile(path.join(this.dir, 'node.json'), 'utf8')) as {
      nodeId: string;
      permutationSeed: string;
    };
    this.nodeId = info.nodeId;
    this.entry = {
      id: fromBase32(info.nodeId),
      permutationSeed: fromBase32(info.permutationSeed),
      name: this.name,
      nurl: this.furl,
    };
  }

  setLink(settings: LinkSettings): Promise<void> {
    if (!this.proxy) throw new HostsGridError(`${this.name} has no delay proxy yet`);
    return this.proxy.set(settings);
  }

  async partition(): Promise<void> {
    await setLinkState(this.bridge, this.port, false);
  }

  async heal(): Promise<void> {
    await setLinkState(this.bridge, this.port, true);
  }

  async kill(): Promise<void> {
    if (this.process) await killChild(this.process);
  }

  async restart(): Promise<void> {
    await this.startServer();
  }

  async stop(): Promise<void> {
    if (!this.running) throw new HostsGridError(`${this.name} is not running; cannot stop it`);
    this.process!.kill('SIGSTOP');
  }

  async resume(): Promise<void> {
    if (this.running) this.process!.kill('SIGCONT');
  }
}

/** Builds the network and starts servers and proxies; on any failure removes it all again. */
export async function startHostsGrid(options: HostsGridOptions): Promise<HostsGrid> {
  const count = options.servers;
  if (!Number.isInteger(count) || count < 1 || count > 200) {
    throw new HostsGridError(`a hosts grid has 1 to 200 servers, not ${count}`);
  }
  const link = validateLinkSettings(options.link ?? {}, 'link');
  const available = await hostsAvailable();
  if (!available.ok) throw new HostsGridError(available.reason);
  await sweepStale();

  const prefix = runPrefix(process.pid, randomBytes(3).toString('hex'));
  const root = await mkdtemp(path.join(tmpdir(), `${prefix}grid-`));
  ownTempDir(root);
  const bridge = `${prefix}br`;
  const clientNs = options.clientNamespace ? `${prefix}c` : undefined;
  const made: string[] = [];
  const owned = new Set<ChildProcess>();
  const runs = new Set<ChildProcess>();
  const servers: Server[] = [];
  const clientPort = 'c';
  let rootPeer: string | undefined;

  const addNamespace = async (name: string) => {
    ownNamespace(name);
    await ip(['netns', 'add', name]);
    made.push(name);
    await ip(['-n', name, 'link', 'set', 'lo', 'up']);
  };

  const close = async () => {
    for (const child of [...runs, ...owned]) await killChild(child).catch(() => undefined);
    // Mounts a test left under the grid's folder go before the folder does.
    const mounts = (await readFile('/proc/mounts', 'utf8').catch(() => ''))
      .split('\n')
      .map((l) => l.split(' ')[1])
      .filter((m): m is string => !!m && m.startsWith(root + '/'));
    for (const m of mounts) {
      const child = spawnInNamespace(undefined, 'fusermount', ['-uz', m], { stdio: 'ignore' });
      child.on('error', () => undefined);
      await exited(child);
    }
    for (const name of [...made].reverse()) {
      await deleteNamespace(name).catch(() => undefined);
      disownNamespace(name);
    }
    // The kernel removes a deleted namespace's veths a moment later: wait, so a leak
    // check right after close() finds nothing.
    for (let i = 0; rootPeer && i < 100; i++) {
      if (
        !(await ip(['link', 'show', rootPeer]).then(
          () => true,
          () => false,
        ))
      )
        break;
      await sleep(50);
    }
    await rm(root, { recursive: true, force: true });
    disownTempDir(root);
  };

  try {
    let network = '10.77.0';
    if (!clientNs) {
      const inUse = (await ip(['-4', '-o', 'addr'])) + (await ip(['-4', 'route']));
      network = freeNetwork(inUse, randomInt(100 * 256));
    }
    const plan = addressPlan(network);
    await addNamespace(bridge);
    await ip(['-n', bridge, 'link', 'add', 'br0', 'type', 'bridge']);
    await ip(['-n', bridge, 'link', 'set', 'br0', 'up']);

    // A veth from the bridge (port `port`) to `ns` (eth0 there, or `peer` in the root one).
    const wire = async (port: string, ns: string | undefined, address: string) => {
      const peer = ns ? 'eth0' : `sfh${randomBytes(4).toString('hex')}`;
      const where = ['netns', ns ?? String(process.pid)];
      await ip(['-n', bridge, 'link', 'add', port, 'type', 'veth', 'peer', 'name', peer, ...where]);
      await ip(['-n', bridge, 'link', 'set', port, 'master', 'br0']);
      await ip(['-n', bridge, 'link', 'set', port, 'up']);
      const inNs = ns ? ['-n', ns] : [];
      await ip([...inNs, 'addr', 'add', `${address}/24`, 'dev', peer]);
      await ip([...inNs, 'link', 'set', peer, 'up']);
      return peer;
    };

    for (let i = 0; i < count; i++) {
      const ns = `${prefix}s${i}`;
      await addNamespace(ns);
      await wire(`s${i}`, ns, plan.server(i));
      servers.push(
        new Server(
          i,
          plan.server(i),
          path.join(root, `server-${i}`),
          ns,
          bridge,
          options.serverArgs ?? [],
          owned,
        ),
      );
    }
    if (clientNs) await addNamespace(clientNs);
    const peer = await wire(clientPort, clientNs, plan.client);
    if (!clientNs) rootPeer = peer;

    // A few at a time: many Node processes starting at once on two cores only thrash.
    await mapLimited(servers, 4, async (s) => {
      await s.startProxy(link);
      await s.startServer();
    });
    const serversFile = path.join(root, 'servers.yaml');
    await writeFile(serversFile, formatServersYaml(servers.map((s) => s.entry)));

    let clients = 0;
    const grid: HostsGrid = {
      servers,
      clientNamespace: clientNs,
      clientAddress: plan.client,
      root,
      serversFile,
      async clientDir(settings: ClientDirSettings = {}) {
        const dir = path.join(root, `client-${clients++}`);
        await mkdir(path.join(dir, 'private'), { recursive: true, mode: 0o700 });
        const { timeouts, mount, ...top } = settings;
        const config: Record<string, unknown> = { 'servers-file': serversFile, ...top };
        if (timeouts) config.timeouts = timeouts;
        if (mount) config.mount = mount;
        await writeFile(
          path.join(dir, 'config.toml'),
          `# a client of the hosts grid in ${root}\n${stringifyToml(config)}\n`,
        );
        return dir;
      },
      partitionClient: async () => void (await setLinkState(bridge, clientPort, false)),
      healClient: async () => void (await setLinkState(bridge, clientPort, true)),
      setLinkAll: async (settings) =>
        void (await Promise.all(servers.map((s) => s.setLink(settings)))),
      run(command, args, spawnOptions = {}) {
        const child = spawnInNamespace(clientNs, command, args, spawnOptions);
        runs.add(child);
        child.once('exit', () => runs.delete(child));
        return child;
      },
      close,
    };
    return grid;
  } catch (err) {
    await close().catch(() => undefined);
    throw err;
  }
}

/** Whether `name` looks like a namespace of some hosts grid (for tools that list them). */
export const isHostsNamespace = (name: string) => name.startsWith(NAME_PREFIX);

export { netnsPath };
