// Mounting: client directory → grid → root directory → journal recovery → FUSE. Every
// check that can fail runs before the FUSE mount, and a failure undoes what was opened,
// so nothing is ever mounted half-way. Unmounting publishes dirty files first (what
// cannot be published stays in the journal for the next mount).
import { createHash } from 'node:crypto';
import { constants as fsConstants, existsSync } from 'node:fs';
import { access, readFile, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import { WriteJournal } from '../cache/journal.js';
import { openClientDir } from '../client/client-dir.js';
import { openClient, type OpenClient } from '../client/open-client.js';
import { openRoot } from '../client/root.js';
import { DirectoryClient } from '../dirnode/directory.js';
import { toBase32 } from '../encoding/base32.js';
import { warmShareBuilder } from '../mutable/share-builder.js';
import { checkAllowOther } from './allow-other.js';
import { allMounts, controlSocketPath, serveControl, type ControlRequest } from './control.js';
import { describeFailure, FsError } from './errno.js';
import { statArray, withAttrReplies } from './fuse-attr-replies.js';
import type { Stat } from './nodes.js';
import { fuseOperations } from './fuse-ops.js';
import { withTimeout } from './limit.js';
import { MountMonitor, type MountStatus } from './monitor.js';
import { PublishRate, reportProgress } from './progress.js';
import { SlotFs, XATTR_PREFIX } from './slotfs.js';
import { FOLDER_PACE } from './write-back.js';

export class MountError extends Error {
  constructor(
    readonly code:
      | 'ERR_MOUNT_POINT'
      | 'ERR_MOUNT_FUSE'
      | 'ERR_MOUNT_GRID'
      | 'ERR_MOUNT_BUSY'
      | 'ERR_MOUNT_FAILED',
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'MountError';
  }
}

export interface MountOptions {
  mountpoint: string;
  /** Client directory (default ~/.slotfs). */
  dir?: string;
  serversFile?: string;
  log?: (line: string) => void;
  /** The FUSE device to check for (tests point it elsewhere). Default /dev/fuse. */
  fuseDevice?: string;
  /** FUSE's configuration, checked when allow-other is set (tests point it elsewhere). */
  fuseConf?: string;
  /** The user to check allow-other for (tests pretend not to be root). Default: ours. */
  uid?: number;
}

/** How to unmount: by default publish first; `unmountFirst` when nobody waits any more. */
export interface UnmountOptions {
  /** Unmount before publishing (the journal keeps what is not published in time). */
  unmountFirst?: boolean;
  /** How long to publish after unmounting (default `op-timeout-ms`). */
  flushMs?: number;
}

export interface Mounted {
  mountpoint: string;
  clientDir: string;
  rootCapFile: string;
  rootCreated: boolean;
  controlSocket: string;
  /** Files republished from the journal of an earlier run. */
  recovered: number;
  /** Settles once unmounted (by unmount(), or because the mount went away). */
  closed: Promise<void>;
  /** Publishes dirty files, unmounts, closes everything. Idempotent. */
  unmount(reason?: string, options?: UnmountOptions): Promise<void>;
  status(): Promise<MountStatus>;
}

interface FuseInstance {
  mount(cb: (err: Error | null) => void): void;
  unmount(cb: (err: Error | null) => void): void;
}
type FuseConstructor = new (
  mountpoint: string,
  ops: Record<string, unknown>,
  options: Record<string, unknown>,
) => FuseInstance;

/** fuse-native, loaded on demand: it needs libfuse.so.2 at load time. */
function loadFuse(): {
  Fuse: FuseConstructor;
  utimensFixed: boolean;
  rawPaths: boolean;
  attrReplies: boolean;
  /** The binding takes bit 30 of an open's answer as keep_cache. */
  keepCache: boolean;
  /** Empties the binding's attribute table; undefined when the binding has none. */
  forgetAttrs?: () => void;
  /** Puts many paths' attributes into the table: (fuse-native's thread buffer, paths, stats, ms). */
  keepAttrs?: (thread: Buffer, paths: Buffer, stats: Buffer, ms: number) => void;
} {
  const require = createRequire(import.meta.url);
  try {
    const Fuse = require('fuse-native') as FuseConstructor;
    const dir = resolve(require.resolve('fuse-native/package.json'), '..');
    // Which of scripts/build-fuse.js's fixes the built binding has (it marks each).
    const built = (marker: string) => existsSync(join(dir, 'build', 'Release', marker));
    const attrReplies = built('slotfs-attr-replies');
    return {
      Fuse: attrReplies ? withAttrReplies(Fuse) : Fuse,
      utimensFixed: built('slotfs-utimens-fixed'),
      rawPaths: built('slotfs-raw-paths'),
      attrReplies,
      keepCache: built('slotfs-keep-cache'),
      ...(attrReplies && built('slotfs-attr-table') ? tableOf(dir) : {}),
    };
  } catch (err) {
    throw new MountError(
      'ERR_MOUNT_FUSE',
      `cannot load fuse-native (${describeFailure(err)}); install libfuse2 and fuse (Debian: apt-get install libfuse2 fuse)`,
      { cause: err },
    );
  }
}

/** The binding's own functions for its attribute table (of the binding fuse-native loads). */
function tableOf(dir: string): Pick<ReturnType<typeof loadFuse>, 'forgetAttrs' | 'keepAttrs'> {
  const load = createRequire(join(dir, 'package.json'))('node-gyp-build') as (
    dir: string,
  ) => Record<string, unknown>;
  const binding = load(dir);
  const forget = binding.slotfs_forget_attrs;
  const keep = binding.slotfs_keep_attrs;
  if (typeof forget !== 'function' || typeof keep !== 'function') return {};
  return {
    forgetAttrs: forget as () => void,
    keepAttrs: keep as (thread: Buffer, paths: Buffer, stats: Buffer, ms: number) => void,
  };
}

/** Paths as the binding sees them (UTF-8 bytes), each ended by a NUL; 18 words of stat each. */
function packAttrs(paths: string[], stats: Stat[]): { paths: Buffer; stats: Buffer } {
  const ints = new Uint32Array(18 * stats.length);
  stats.forEach((st, i) => ints.set(statArray(st), 18 * i));
  return {
    paths: Buffer.from(paths.map((p) => `${p}\0`).join(''), 'utf8'),
    stats: Buffer.from(ints.buffer, ints.byteOffset, ints.byteLength),
  };
}

async function checkMountpoint(mountpoint: string, fuseDevice: string): Promise<void> {
  if (allMounts().includes(mountpoint)) {
    let dead = false;
    await stat(mountpoint).catch((err: NodeJS.ErrnoException) => (dead = err.code === 'ENOTCONN'));
    throw new MountError(
      'ERR_MOUNT_BUSY',
      dead
        ? `${mountpoint} holds a dead mount; clean it with \`slotfs unmount ${mountpoint}\``
        : `something is already mounted at ${mountpoint}`,
    );
  }
  let st;
  try {
    st = await stat(mountpoint);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new MountError(
      'ERR_MOUNT_POINT',
      code === 'ENOENT'
        ? `mount point ${mountpoint} does not exist; create it first (mkdir -p ${mountpoint})`
        : `cannot use mount point ${mountpoint}: ${(err as Error).message}`,
      { cause: err },
    );
  }
  if (!st.isDirectory())
    throw new MountError('ERR_MOUNT_POINT', `mount point ${mountpoint} is not a directory`);
  try {
    await access(fuseDevice, fsConstants.R_OK | fsConstants.W_OK);
  } catch (err) {
    throw new MountError(
      'ERR_MOUNT_FUSE',
      `FUSE is not available here (${fuseDevice}: ${(err as NodeJS.ErrnoException).code}); load the fuse module, or run where FUSE is allowed (containers need --device /dev/fuse --cap-add SYS_ADMIN)`,
      { cause: err },
    );
  }
}

/** Label for conflict copies: configured, or host name + a short hash of the lease secret. */
function clientNameOf(configured: string | undefined, leaseSecret: Uint8Array): string {
  if (configured) return configured;
  const tag = toBase32(createHash('sha256').update(leaseSecret).digest()).slice(0, 6);
  return `${hostname().split('.')[0]}-${tag}`;
}

export async function mount(options: MountOptions): Promise<Mounted> {
  const log = options.log ?? ((line: string) => console.error(line));
  const mountpoint = resolve(options.mountpoint);
  await checkMountpoint(mountpoint, options.fuseDevice ?? '/dev/fuse');
  const { Fuse, utimensFixed, rawPaths, attrReplies, forgetAttrs, keepAttrs, ...more } = loadFuse();
  // Read by the patched binding on every request (scripts/build-fuse.js).
  if (rawPaths) process.env.SLOTFS_FUSE_RAW_PATHS = '1';
  // Only these extended attributes have answers here (SlotFs.getxattr); the binding
  // answers every other name itself (the kernel asks security.capability on each write).
  if (attrReplies) process.env.SLOTFS_FUSE_XATTR_PREFIX = XATTR_PREFIX;
  // getattr answers that SlotFs marks good for a while are kept and answered in the binding.
  const attrTable = forgetAttrs !== undefined && process.env.SLOTFS_ATTR_TABLE !== '0';
  if (attrTable) process.env.SLOTFS_FUSE_ATTR_TABLE = '1';
  // An unchanged file's pages stay in the kernel's cache across opens (kernel-contents.ts).
  const keepCache = more.keepCache && process.env.SLOTFS_KEEP_CACHE !== '0';
  if (keepCache) process.env.SLOTFS_FUSE_KEEP_CACHE = '1';

  const cleanups: Array<() => Promise<unknown>> = [];
  const undo = async () => {
    for (const c of cleanups.reverse()) await c().catch(() => undefined);
  };
  try {
    const dirInfo = await openClientDir(options.dir, { serversFile: options.serversFile });
    const m = dirInfo.config.mount;
    if (m['allow-other']) {
      const problem = await checkAllowOther(
        options.uid ?? process.getuid?.() ?? 0,
        options.fuseConf,
      );
      if (problem) throw new MountError('ERR_MOUNT_FUSE', problem);
    }
    const opened: OpenClient = await openClient(options.dir, {
      serversFile: options.serversFile,
      // With format = "tahoe" each new file takes an RSA key: `key-pool-size` of them are
      // kept ready in the client directory. (Ed25519 files need no pool: it stays empty.)
      keyPoolConcurrency: 2,
      warn: log,
    });
    cleanups.push(() => opened.close());
    const journal = await WriteJournal.open(join(opened.dir.dir, 'journal'), { log });
    cleanups.push(() => journal.close());
    const monitor = new MountMonitor(opened.servers.map((s) => s.name));
    const rate = new PublishRate();
    cleanups.push(async () => monitor.stop());
    await opened.client.connect();

    // Names exactly as programs give them: rsync, git and tar compare names byte for byte.
    const dirs = new DirectoryClient(opened.client, {
      batchWindowMs: m['dir-batch-ms'],
      // A big folder's update is slow: changes nobody waits for collect for longer.
      pace: FOLDER_PACE,
      names: 'exact',
    });
    let root;
    try {
      root = await withTimeout(
        openRoot({ dir: opened.dir, client: opened.client }),
        m['op-timeout-ms'],
        () => new Error(`no answer after ${m['op-timeout-ms'] / 1000} s`),
      );
    } catch (err) {
      throw gridError('cannot create the root directory', err, opened.dir.serversFile);
    }
    const fs = new SlotFs(opened.client, dirs, journal, {
      rootCap: root.cap,
      // The root cap file is written when the root is made: a stable time for the root.
      // (whole ms: utimes stores ms/1000 s, which reads back a hair below the ms)
      rootMtime: Math.round((await stat(root.path)).mtimeMs),
      // …and keeps the root's later changes (it has no directory entry to hold them).
      keepRootMtime: (ms) => utimes(root.path, new Date(), new Date(ms)),
      dirCacheMs: m['dir-cache-ms'],
      attrCacheMs: m['attr-cache-ms'],
      writeBackMs: m['write-back-ms'],
      publishConcurrency: m['publish-concurrency'],
      conflicts: m.conflicts,
      maxConflictCopies: m['max-conflict-copies'],
      clientName: clientNameOf(m['client-name'], opened.dir.leaseSecret),
      log,
      onConflict: (c) => monitor.noteConflict(c),
      onPublished: () => rate.note(),
      onAttrsChanged: attrTable ? forgetAttrs : undefined,
      capacity: async () => {
        const versions = opened.servers.map((s) => s.cachedVersion).filter((v) => v !== undefined);
        const free = versions.reduce((sum, v) => sum + Math.max(0, v.availableSpace), 0);
        const ratio = opened.client.k / opened.client.N;
        return { totalBytes: free * ratio, freeBytes: free * ratio };
      },
    });
    cleanups.push(async () => fs.close());
    // Replayed first: a listing fetched before the replay would show the folders as they
    // were (for dir-cache-ms), not with the changes a killed run acknowledged.
    const recovered = await fs.recover();
    try {
      await withTimeout(
        fs.view(root.cap, '/'),
        m['op-timeout-ms'],
        () => new Error(`no answer after ${m['op-timeout-ms'] / 1000} s`),
      );
    } catch (err) {
      throw gridError('cannot read the root directory', err, opened.dir.serversFile);
    }

    const ops = fuseOperations(fs, {
      opTimeoutMs: m['op-timeout-ms'],
      log,
      slowServers: (ms) => monitor.slowServers(ms),
      onError: (line) => monitor.noteError(line),
      rawPaths,
      attrReplies,
      attrTable,
      keepCache,
      keepAttrs:
        attrTable && keepAttrs
          ? (paths, stats, ms) => {
              // fuse-native's buffer for the mount's thread: the binding's key for it.
              const thread = (fuse as unknown as { _thread: Buffer | null })._thread;
              if (!thread) return;
              const packed = packAttrs(paths, stats);
              keepAttrs(thread, packed.paths, packed.stats, ms);
            }
          : undefined,
    });
    const seconds = (ms: number) => String(ms / 1000);
    const fuse = new Fuse(mountpoint, ops, {
      // fuse-native joins its options with commas: this passes libfuse options it lacks.
      fsname: [
        'slotfs',
        'big_writes',
        'max_write=131072',
        'hard_remove',
        `entry_timeout=${seconds(m['kernel-cache-ms'])}`,
        `attr_timeout=${seconds(m['kernel-cache-ms'])}`,
        'negative_timeout=0',
      ].join(','),
      subtype: 'slotfs',
      autoUnmount: true,
      // The kernel checks modes: with allow-other, other users get what the modes allow.
      defaultPermissions: true,
      allowOther: m['allow-other'],
      // Our handlers bound their own time (op-timeout-ms) and answer EIO.
      timeout: false,
    });
    await new Promise<void>((ok, fail) =>
      fuse.mount((err) =>
        err
          ? fail(
              new MountError(
                'ERR_MOUNT_FAILED',
                `FUSE mount of ${mountpoint} failed: ${err.message}`,
                { cause: err },
              ),
            )
          : ok(),
      ),
    );
    // The table is keyed by fuse-native's buffer for this mount, which a later mount in
    // this process may reuse: nothing of an earlier mount may answer for it.
    if (attrTable) forgetAttrs?.();
    cleanups.push(() => new Promise<void>((ok) => fuse.unmount(() => ok())));
    if (attrTable) cleanups.push(async () => forgetAttrs?.());
    // Large files are built on a worker thread: started now, not by the first fsync.
    warmShareBuilder();
    if (!rawPaths) {
      log(
        'slotfs: warning: fuse-native was not rebuilt with the raw-path fix (node scripts/build-fuse.js); names holding U+FFFD are refused, since names that are not UTF-8 arrive as it',
      );
    }
    if (!utimensFixed) {
      log(
        'slotfs: warning: fuse-native was not rebuilt with the utimens fix (node scripts/build-fuse.js); modification times set by touch -d, cp -p, rsync and tar are not kept',
      );
    }

    const startedAt = Date.now();
    // /proc/mounts escapes spaces, tabs, newlines and backslashes as octal.
    const mountField = mountpoint.replace(
      /[ \t\n\\]/g,
      (c) => `\\${c.charCodeAt(0).toString(8).padStart(3, '0')}`,
    );
    let closing: Promise<void> | undefined;
    let resolveClosed!: () => void;
    const closed = new Promise<void>((ok) => (resolveClosed = ok));

    const status = async (): Promise<MountStatus> => ({
      mountpoint,
      clientDir: opened.dir.dir,
      rootCapFile: root.path,
      pid: process.pid,
      startedAt,
      servers: (await monitor.probe(opened.servers)).map((s) => ({
        ...s,
        away: (opened.health.record(s.name)?.awayUntil ?? null) !== null,
      })),
      pending: fs.pending(),
      published: rate.total,
      publishRate: rate.perSecond(),
      openChecks: fs.openChecks(),
      folderUpdates: { ...dirs.stats },
      conflicts: [...monitor.conflicts],
      errors: [...monitor.errors],
    });

    const unmount = (reason = 'unmount requested', how?: UnmountOptions): Promise<void> => {
      closing ??= (async () => {
        clearInterval(watch);
        log(`slotfs: unmounting ${mountpoint} (${reason}); publishing pending writes`);
        // How many are left, the rate and an estimate, while people wait.
        const progress = reportProgress(
          () => ({ left: fs.pending().length, rate: rate.perSecond() }),
          {
            tty: !options.log && !!process.stderr.isTTY,
            line: log,
            draw: (text) => process.stderr.write(text),
          },
        );
        const first = how?.unmountFirst
          ? []
          : await withTimeout(
              fs.flushAll(),
              m['op-timeout-ms'] * 2,
              () => new Error('timeout'),
            ).catch(() => fs.pending().map((p) => ({ path: p.path, error: 'timed out' })));
        await new Promise<void>((ok) => fuse.unmount(() => ok()));
        if (attrTable) forgetAttrs?.();
        // Anything written between the flush and the unmount.
        const failures = first.length
          ? first
          : await withTimeout(
              fs.flushAll(),
              how?.flushMs ?? m['op-timeout-ms'],
              () => new Error('timeout'),
            ).catch(() => fs.pending().map((p) => ({ path: p.path, error: 'timed out' })));
        progress.stop();
        log(
          `slotfs: ${rate.total} write-backs and ${dirs.stats.updates} folder updates (${dirs.stats.operations} changes) published since the mount started`,
        );
        for (const f of failures) {
          log(
            `slotfs: ${f.path} was not published (${f.error}); it stays in the journal and is republished at the next mount`,
          );
        }
        await control.close();
        await rm(join(opened.dir.dir, 'mount.json'), { force: true });
        fs.close();
        monitor.stop();
        await journal.close().catch(() => undefined);
        await opened.close().catch(() => undefined);
        log(`slotfs: unmounted ${mountpoint}`);
        resolveClosed();
      })();
      return closing;
    };

    const handleControl = async (request: ControlRequest): Promise<Record<string, unknown>> => {
      switch (request.op) {
        case 'status':
          return { status: await status() };
        case 'progress':
          return { left: fs.pending().length, rate: rate.perSecond() };
        case 'cap': {
          const caps = await fs.caps(request.path);
          const cap = request.readonly ? caps.roCap : (caps.rwCap ?? caps.roCap);
          return { cap, readonly: request.readonly || !caps.rwCap };
        }
        case 'link':
          await fs.link(request.path, request.cap);
          return {};
        case 'unmount':
          // Answered once everything is published, unmounted and closed.
          await unmount('slotfs unmount');
          return {};
        default:
          throw new FsError(
            'EINVAL',
            `unknown control request ${JSON.stringify((request as { op?: unknown }).op)}`,
          );
      }
    };
    const controlSocket = controlSocketPath(mountpoint);
    const control = await serveControl(controlSocket, async (request) => {
      try {
        return await handleControl(request);
      } catch (err) {
        const code = err instanceof FsError ? err.errno : undefined;
        throw Object.assign(new Error(describeFailure(err).replace(/^ERR_FS: /, '')), {
          errno: code,
        });
      }
    });
    cleanups.push(() => control.close());
    await writeFile(
      join(opened.dir.dir, 'mount.json'),
      JSON.stringify({ mountpoint, pid: process.pid, controlSocket }) + '\n',
    );

    // Unmounted behind our back (fusermount -u): publish what is pending and close.
    // (Read asynchronously: nothing in the mount process may block the main thread.)
    const watch = setInterval(() => {
      readFile('/proc/mounts', 'utf8').then(
        (text) => {
          const mounted = text.split('\n').some((line) => line.split(' ')[1] === mountField);
          if (!mounted) void unmount('the mount went away');
        },
        () => undefined,
      );
    }, 2000);
    watch.unref();

    return {
      mountpoint,
      clientDir: opened.dir.dir,
      rootCapFile: root.path,
      rootCreated: root.created,
      controlSocket,
      recovered,
      closed,
      unmount,
      status,
    };
  } catch (err) {
    await undo();
    throw err;
  }
}

function gridError(what: string, err: unknown, serversFile: string): MountError {
  return new MountError(
    'ERR_MOUNT_GRID',
    `${what} on the grid, so nothing was mounted: ${describeFailure(err)} (servers from ${serversFile}; is the grid up? \`slotfs grid status\`)`,
    { cause: err },
  );
}
