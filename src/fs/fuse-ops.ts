// fuse-native handlers over SlotFs. Every handler is wrapped: a throw inside fuse-native's
// callback path kills the mount, so errors become errnos here; a grid failure also gets a
// log line naming its cause; and an operation that waits on the grid longer than
// `opTimeoutMs` answers EIO (naming the servers it waited for) instead of hanging.
import { Deadlines } from './deadlines.js';
import { Errno, describeFailure, errnoOf } from './errno.js';
import { fromFusePath, toFuseName } from './fuse-path.js';
import { RepeatFilter, describeObject, summarizeFailure } from './failure-log.js';
import { ATTR_REPLY_OPS } from './fuse-attr-replies.js';
import type { Stat } from './nodes.js';
import type { AttrsToKeep, SlotFs } from './slotfs.js';

export interface FuseOpsOptions {
  opTimeoutMs: number;
  log: (line: string) => void;
  /** Servers with requests outstanding for ≥ ms, for timeout messages. */
  slowServers?: (ms: number) => string[];
  /** Called with every logged failure (for `slotfs status`). */
  onError?: (message: string) => void;
  /** The binding hands over paths byte for byte (latin1 strings): see fuse-path.ts. */
  rawPaths?: boolean;
  /** The same failure of one object is logged once within this window. Default 30 s. */
  repeatWindowMs?: number;
  /**
   * The binding takes the new attributes with the answers of the operations that change an
   * entry (fuse-attr-replies.ts): they are passed when known without the grid.
   */
  attrReplies?: boolean;
  /**
   * The binding keeps getattr answers in its attribute table: each is passed with how long
   * it stays good (SlotFs.attrsToKeep).
   */
  attrTable?: boolean;
  /** Hands the binding's attribute table the attributes of many paths at once. */
  keepAttrs?: (paths: string[], stats: Stat[], ms: number) => void;
  /** The binding takes bit 30 of an open's answer as keep_cache (SlotFs.keepsCache). */
  keepCache?: boolean;
}

/** The bit of an open's answer that asks the kernel to keep the file's cached pages. */
export const KEEP_CACHE_BIT = 0x40000000;

/** The path of the kernel node an I/O call came through (none for a deleted open file). */
function viaPath(path: unknown): string | undefined {
  return typeof path === 'string' && path !== '' ? path : undefined;
}

/** Operations whose second argument is a path too. */
const TWO_PATHS = new Set(['rename', 'link', 'symlink']);

type Callback = (...args: unknown[]) => void;
type Handler = (...args: never[]) => void;

/** How a result goes back to fuse-native. */
type Reply = 'void' | 'value' | 'count' | 'xattr';

export function fuseOperations(fs: SlotFs, options: FuseOpsOptions): Record<string, Handler> {
  const { log } = options;
  const raw = options.rawPaths ?? false;
  // SLOTFS_DEBUG=1 logs every operation, its answer and how long it took (to trace what a
  // tool does and what it waits for); any other value is a pattern: only operations whose
  // description matches it are logged.
  const debug = debugFilter(process.env.SLOTFS_DEBUG);

  const repeats = new RepeatFilter(options.repeatWindowMs);

  /** "file /a.txt" for a path argument (the kind as far as the mount knows it without asking). */
  function named(what: string, first: unknown): string {
    return what === first ? describeObject(what, fs.kindOf(what)) : what;
  }

  /** Logs a failure; the same kind of failure of one object only once per window. */
  function fail(op: string, what: string, message: string, kind: string): void {
    const line = repeats.filter(`${what}\0${kind}`, `slotfs: ${op} ${what}: ${message}`);
    if (line === undefined) return;
    log(line);
    options.onError?.(line);
  }

  function answer(cb: Callback, reply: Reply, value: unknown, attrs: unknown): void {
    switch (reply) {
      case 'void':
        return attrs ? cb(0, attrs) : cb(0);
      case 'value':
        return attrs ? cb(0, value, attrs) : cb(0, value);
      case 'count':
        return cb(value as number);
      case 'xattr':
        return cb(null, value ?? null);
    }
  }

  // One timer for all calls waiting on the grid (deadlines.ts), not one per call.
  const deadlines = new Deadlines(options.opTimeoutMs);

  /** Wraps `fn` (args without the callback) into a fuse-native handler. */
  function op<A extends unknown[]>(
    name: string,
    reply: Reply,
    fn: (...args: A) => unknown,
    describe: (...args: A) => string = (...args) => String(args[0]),
  ): Handler {
    const twoPaths = TWO_PATHS.has(name);
    const entryArg = options.attrReplies ? ATTR_REPLY_OPS.get(name) : undefined;
    const counted = name !== 'fsync' && name !== 'fsyncdir';
    const tabled = options.attrTable === true && name === 'getattr';
    const handler = (...all: unknown[]) => {
      const cb = all.pop() as Callback;
      const args = all as A;
      if (counted) fs.noteCall(name);
      const began = debug ? performance.now() : 0;
      let done = false;
      let deadline = 0;
      const finish = (code: number, value?: unknown) => {
        if (done) return;
        done = true;
        if (debug) {
          const what = `${name} ${safe(() => describe(...args))}`;
          const ms = (performance.now() - began).toFixed(1);
          if (debug(what)) log(`slotfs: debug: ${what} → ${code}${shownValue(value)} (${ms} ms)`);
        }
        if (deadline) deadlines.settle(deadline);
        try {
          if (tabled) {
            const keep = code === 0 || code === Errno.ENOENT ? attrsToKeep(args[0]) : { ms: 0 };
            if (code !== 0) cb(code, undefined, keep.ms);
            else cb(0, value, keep.ms);
            if (keep.siblings) keepSiblings(keep.siblings, keep.ms);
          } else if (code !== 0) cb(code);
          else
            answer(cb, reply, value, entryArg === undefined ? undefined : attrsOf(args[entryArg]));
        } catch (err) {
          log(`slotfs: ${name}: fuse-native rejected the answer: ${describeFailure(err)}`);
        }
      };
      const failed = (err: unknown) => {
        const verdict = errnoOf(err);
        if (verdict.failure) {
          const what = named(
            safe(() => describe(...args)),
            args[0],
          );
          const code = (err as { code?: unknown } | null)?.code;
          fail(
            name,
            what,
            `${summarizeFailure(err, what)} (answered ${verdict.name})`,
            typeof code === 'string' ? code : describeFailure(err),
          );
        }
        finish(verdict.errno);
      };
      let result: unknown;
      try {
        // Decoded first: a name that is not UTF-8 is refused before anything happens.
        if (typeof args[0] === 'string') args[0] = fromFusePath(args[0], raw);
        if (twoPaths && typeof args[1] === 'string') args[1] = fromFusePath(args[1], raw);
        result = fn(...args);
      } catch (err) {
        failed(err);
        return;
      }
      // Answered from memory: no deadline, no promise.
      if (!isPromise(result)) {
        finish(0, result);
        return;
      }
      deadline = deadlines.add(() => {
        const slow = options.slowServers?.(Math.min(options.opTimeoutMs, 1000)) ?? [];
        const shown =
          slow.slice(0, 3).join(', ') + (slow.length > 3 ? `, +${slow.length - 3}` : '');
        fail(
          name,
          named(
            safe(() => describe(...args)),
            args[0],
          ),
          `no answer from the grid after ${Math.round(options.opTimeoutMs / 1000)} s` +
            (slow.length ? ` (waiting for ${slow.length} servers: ${shown})` : '') +
            '; answered EIO',
          'timeout',
        );
        finish(Errno.EIO);
      });
      result.then((value) => finish(0, value), failed);
    };
    return handler as Handler;
  }

  /** The entry's attributes to pass with an answer, if known without the grid. */
  function attrsOf(path: unknown): unknown {
    try {
      return typeof path === 'string' ? fs.attrsNow(path) : undefined;
    } catch {
      return undefined; // then libfuse asks getattr as usual
    }
  }

  /** What the binding may keep of a getattr answer of `path` (nothing on any doubt). */
  function attrsToKeep(path: unknown): AttrsToKeep {
    try {
      return typeof path === 'string' ? fs.attrsToKeep(path) : { ms: 0 };
    } catch {
      return { ms: 0 };
    }
  }

  /** After a kept answer: the folder's other names too, when the mount takes them. */
  function keepSiblings(siblings: NonNullable<AttrsToKeep['siblings']>, ms: number): void {
    if (!options.keepAttrs || siblings.paths.length === 0) return;
    try {
      options.keepAttrs(siblings.paths, siblings.stats, ms);
    } catch (err) {
      log(`slotfs: could not hand attributes to the binding: ${describeFailure(err)}`);
    }
  }

  const refuse =
    (errno: number) =>
    (...all: unknown[]) =>
      (all.pop() as Callback)(errno);

  return {
    getattr: op('getattr', 'value', (path: string) => fs.getattr(path)),
    readdir: op('readdir', 'value', async (path: string) =>
      (await fs.readdir(path)).map((n) => toFuseName(n, raw)),
    ),
    statfs: op('statfs', 'value', () => fs.statfs()),
    open: op('open', 'value', async (path: string, flags: number) => {
      const fh = await fs.open(path, flags);
      // The binding reads bit 30 as keep_cache (scripts/build-fuse.js, fifth fix).
      return options.keepCache && fs.keepsCache(fh) ? fh | KEEP_CACHE_BIT : fh;
    }),
    create: op('create', 'value', (path: string, mode: number) => fs.create(path, mode)),
    read: op(
      'read',
      'count',
      (_path: string, fd: number, buf: Buffer, len: number, pos: number) =>
        fs.read(fd, buf, len, pos),
      describeIo,
    ),
    write: op(
      'write',
      'count',
      (path: string, fd: number, buf: Buffer, len: number, pos: number) =>
        fs.write(fd, buf, len, pos, viaPath(path)),
      describeIo,
    ),
    truncate: op('truncate', 'void', (path: string, size: number) => fs.truncate(path, size)),
    ftruncate: op('ftruncate', 'void', (path: string, fd: number, size: number) =>
      fs.ftruncate(fd, size, viaPath(path)),
    ),
    // No flush: without it libfuse answers ENOSYS once and the kernel stops sending it, so
    // close() no longer waits for a trip to the main thread. Nothing is lost: release (the
    // last close) queues the write-back, and a file held open elsewhere is published by its
    // idle timer (write-back-ms after its last write).
    fsync: op(
      'fsync',
      'void',
      (_path: string, _datasync: number, fd: number) => fs.fsync(fd),
      (path: string) => String(path),
    ),
    fsyncdir: op('fsyncdir', 'void', (path: string) => fs.fsyncdir(path)),
    release: op('release', 'void', (_path: string, fd: number) => fs.release(fd)),
    unlink: op('unlink', 'void', (path: string) => fs.unlink(path)),
    mkdir: op('mkdir', 'void', (path: string, mode: number) => fs.mkdir(path, mode)),
    rmdir: op('rmdir', 'void', (path: string) => fs.rmdir(path)),
    rename: op(
      'rename',
      'void',
      (from: string, to: string) => fs.rename(from, to),
      (from: string, to: string) => `${from} → ${to}`,
    ),
    utimens: op('utimens', 'void', (path: string, atime: number, mtime: number) =>
      fs.utimens(path, atime, mtime),
    ),
    chmod: op('chmod', 'void', (path: string, mode: number) => fs.chmod(path, mode)),
    chown: op('chown', 'void', (path: string, uid: number, gid: number) =>
      fs.chown(path, uid, gid),
    ),
    getxattr: op('getxattr', 'xattr', (path: string, name: string) => fs.getxattr(path, name)),
    listxattr: op('listxattr', 'xattr', (path: string) => fs.listxattr(path)),
    // The caps are read-only; other attributes are not kept.
    setxattr: refuse(Errno.ENOTSUP),
    removexattr: refuse(Errno.ENOTSUP),
    // fuse-native passes (target, link path) to symlink, (existing, new) to link.
    symlink: op(
      'symlink',
      'void',
      (target: string, path: string) => fs.symlink(target, path),
      (target: string, path: string) => `${path} → ${target}`,
    ),
    readlink: op('readlink', 'value', (path: string) => fs.readlink(path)),
    link: op(
      'link',
      'void',
      (from: string, to: string) => fs.hardLink(from, to),
      (from: string, to: string) => `${from} → ${to}`,
    ),
    mknod: refuse(Errno.EPERM),
  };
}

/** "path fd=3 4096@0" for a read or a write. */
function describeIo(path: string, fd: number, _buf: Buffer, len: number, pos: number): string {
  return `${path} fd=${fd} ${len}@${pos}`;
}

function isPromise(value: unknown): value is Promise<unknown> {
  return typeof (value as { then?: unknown } | null)?.then === 'function';
}

function safe(fn: () => string): string {
  try {
    return fn();
  } catch {
    return '?';
  }
}

/** Which operations SLOTFS_DEBUG asks to log: none, all ("1"), or those matching a pattern. */
function debugFilter(setting: string | undefined): ((what: string) => boolean) | undefined {
  if (!setting) return undefined;
  if (setting === '1' || setting === 'true') return () => true;
  const pattern = new RegExp(setting);
  return (what) => pattern.test(what);
}

/** A short form of an answer for the debug log (a stat shows its size). */
function shownValue(value: unknown): string {
  if (typeof value === 'number' || typeof value === 'string') return ` ${value}`;
  if (value && typeof value === 'object' && 'size' in value && 'mode' in value) {
    return ` size=${String(value.size)} mode=${Number(value.mode).toString(8)}`;
  }
  return '';
}
