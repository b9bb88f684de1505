// Directory operations over mutable files (tahoe-formats.md §8): a directory is a mutable
// file whose plaintext is the packed child table. Every change is one operation re-applied
// by MutableClient.modify() to the freshly read table, so concurrent changes by different
// clients to different names all survive (§8.4). Changes to one directory that arrive
// within a short window are published together as one update.
import {
  CapError,
  capKindName,
  formatCap,
  parseCap,
  readCapOf,
  requireReadCap,
  type Cap,
  type MutableReadCap,
  type MutableWriteCap,
} from '../caps/index.js';
import { toHex } from '../encoding/bytes.js';
import type { FileFormat, MutableClient } from '../mutable/mutable-client.js';
import { DirectoryError, DirnodeFormatError, type DirNameProblem } from './errors.js';
import { ChildTable } from './child-table.js';
import { unpackChildrenReadOnly, type DirChild, type NameForm } from './format.js';
import {
  isPlainObject,
  serializeMetadata,
  type JsonObject,
  type JsonValue,
} from './metadata-json.js';

/**
 * A child's metadata: Tahoe's `tahoe` timestamps (float Unix seconds, §8.2) and the keys
 * slotfs keeps so `ls -l`, `cp -p`, rsync and git see what they expect. Other keys (from
 * Tahoe front-ends or later versions) are kept as they are.
 */
export interface ChildMetadata {
  /** Maintained by DirectoryClient: linkcrtime when the name was first linked, linkmotime at every change. */
  tahoe?: { linkcrtime: number; linkmotime: number };
  /** Modification time of the child's contents, float Unix seconds. */
  mtime?: number;
  /** Legacy Tahoe key (meant link creation time); kept, not interpreted. */
  ctime?: number;
  /** Size in bytes of the child's contents. */
  size?: number;
  /** POSIX permission bits (e.g. 0o644); the file type bits are not stored. */
  mode?: number;
  [key: string]: unknown;
}

/** One child as seen through a directory cap. */
export interface DirEntry {
  /** The name: NFC-normalised, or exactly as stored (DirectoryClientOptions.names). */
  name: string;
  /** The child's write cap: only through a directory write cap, and only if linked read-write. */
  rwCap?: string;
  /** The child's read-only cap ('' if it has none, e.g. an unknown cap kind). */
  roCap: string;
  metadata: ChildMetadata;
  /** The child's cap is a directory cap (URI:DIR2…). */
  isDirectory: boolean;
}

/** The caps to link a child under: its write cap (if any) and its read-only cap. */
export interface ChildCaps {
  rwCap?: string;
  roCap: string;
}

export interface DirectoryClientOptions {
  /** Changes to one directory within this many milliseconds go out as one update. Default 5. */
  batchWindowMs?: number;
  /** Names NFC-normalised (Tahoe's rule, the default) or kept exactly as given. */
  names?: NameForm;
  /**
   * Pacing of a folder whose updates are slow (a large listing goes out whole each time):
   * its next batch waits `factor` × the duration of its last update, at most `maxMs`
   * (never less than batchWindowMs), unless flush() asks for it. Default: no pacing.
   */
  pace?: { factor: number; maxMs: number };
}

export interface AddOptions {
  /** Replace an existing child of that name (default true); false: ERR_DIR_EXISTS. */
  replace?: boolean;
  /** Fail with ERR_DIR_EXISTS if the name exists (O_EXCL); overrides `replace`. */
  mustNotExist?: boolean;
}

export interface RemoveOptions {
  /** Fail with ERR_DIR_NOT_FOUND if the name is absent (default true, as in Tahoe). */
  mustExist?: boolean;
}

export interface RenameOptions {
  /** Replace an existing child named `to` (default true, as POSIX rename); false: ERR_DIR_EXISTS. */
  replace?: boolean;
}

/**
 * Operations on directories (dirnodes) over a MutableClient.
 *
 * Reads go through MutableClient.retrieve (with a warm cache: one round trip, no share data
 * if unchanged). Writes need the directory's write cap (else ERR_DIR_READ_ONLY), are queued
 * per directory for `batchWindowMs`, then published by one modify() whose function applies
 * every queued operation in order to the freshly read table; each caller's promise settles
 * with its own operation's result or error once that update is published (or failed).
 * Updates of one directory by one DirectoryClient never overlap, so they never collide
 * with each other; collisions with other clients are resolved by modify() re-reading and
 * re-applying the operations.
 */
export class DirectoryClient {
  readonly batchWindowMs: number;
  readonly names: NameForm;
  /**
   * Counters for status and tests: updates published, operations in them, and re-applications
   * (the batch applied again to newer contents after a colliding write).
   */
  readonly stats = { updates: 0, operations: 0, retries: 0 };
  private readonly queues = new Map<string, DirQueue>();
  /** Per directory and access (read or write): the last table seen and its packed bytes. */
  private readonly tables = new Map<string, KnownTable>();
  private tableBytes = 0;
  private readonly pace: { factor: number; maxMs: number };
  /** Per directory: how long its last update took (ms), for pacing. */
  private readonly lastUpdateMs = new Map<string, number>();
  /**
   * Per directory and access: how many versions this client has read that it had not
   * seen (another writer's, or any when it had forgotten the last): see `lineage`.
   */
  private readonly versionsSeen = new Map<string, number>();
  /**
   * Called after an update that found the directory as this client last saw it (no other
   * writer in between), with the time it was read (ms) and the `lineage` it belongs to.
   */
  onInSync?: (dirCap: string, readAt: number, lineage: number) => void;

  constructor(
    readonly client: MutableClient,
    options: DirectoryClientOptions = {},
  ) {
    const window = options.batchWindowMs ?? 5;
    if (!Number.isFinite(window) || window < 0) {
      throw new RangeError(`batchWindowMs must be a finite number ≥ 0, got ${window}`);
    }
    this.batchWindowMs = window;
    this.names = options.names ?? 'nfc';
    const pace = options.pace ?? { factor: 0, maxMs: 0 };
    if (!(pace.factor >= 0 && pace.maxMs >= 0 && Number.isFinite(pace.factor + pace.maxMs))) {
      throw new RangeError(
        `pace needs a factor and maxMs that are finite numbers ≥ 0, got ${JSON.stringify(pace)}`,
      );
    }
    this.pace = pace;
  }

  /**
   * Creates a new empty directory; returns its write cap: URI:DIR2-ED25519:… or, with
   * format 'tahoe', URI:DIR2:… (default: the client's format).
   */
  async createDirectory(options: { format?: FileFormat } = {}): Promise<string> {
    // An empty directory is the empty string (§8).
    const { format } = options;
    return (await this.client.create(new Uint8Array(0), { directory: true, format })).cap;
  }

  /** The children, by name (NFC unless names are kept exact). Through a read cap, entries carry no rwCap. */
  async list(dirCap: string): Promise<Map<string, DirEntry>> {
    const parsed = parseDirectoryCap(dirCap);
    if (parsed.kind === 'immutable' || parsed.kind === 'literal') {
      // Tahoe's immutable directories (what `tahoe backup` makes): read caps only, and
      // they never change (every change is refused: ERR_DIR_READ_ONLY).
      const got = await this.client.retrieve(dirCap);
      const children = unpackChildrenReadOnly(got.plaintext);
      return new Map(children.map((c) => [c.name, entryOf(c)]));
    }
    const cap = requireReadCap(parsed);
    const got = await this.client.retrieve(dirCap);
    const children = this.tableOf(cap, got.plaintext).children();
    return new Map(children.map((c) => [c.name, entryOf(c)]));
  }

  /**
   * A number that changes whenever this client reads a version of the directory it had not
   * seen: as long as it stays the same, every version read since was this client's own.
   */
  lineage(dirCap: string): number {
    const parsed = parseDirectoryCap(dirCap);
    if (parsed.kind !== 'ssk-write' && parsed.kind !== 'ssk-read') return -1;
    return this.versionsSeen.get(tableKey(parsed)) ?? 0;
  }

  /** A directory just made empty by this client: its contents are known without a read. */
  created(dirCap: string): void {
    const parsed = parseDirectoryCap(dirCap);
    if (parsed.kind !== 'ssk-write') return;
    const empty = new Uint8Array(0);
    this.keepTable(tableKey(parsed), {
      packed: empty,
      table: ChildTable.unpack(parsed.writekey, empty, { names: this.names }),
    });
  }

  /** One child, or undefined if the name is absent. */
  async lookup(dirCap: string, name: string): Promise<DirEntry | undefined> {
    const key = existingName(name, this.names);
    return (await this.list(dirCap)).get(key);
  }

  /**
   * Links `child` under `name`. `metadata` (if given) replaces the child's non-`tahoe` keys
   * (kept from the old entry when omitted on replace); `tahoe.linkcrtime` is set when the
   * name is first linked and kept on replace, `tahoe.linkmotime` is set to now.
   */
  add(
    dirCap: string,
    name: string,
    child: ChildCaps,
    metadata?: Partial<ChildMetadata>,
    options: AddOptions = {},
  ): Promise<void> {
    return this.submit(dirCap, () => {
      const key = checkChildName(name, this.names);
      const caps = checkChildCaps(child);
      const supplied = metadata === undefined ? undefined : checkMetadata(metadata);
      const exclusive = options.mustNotExist === true || options.replace === false;
      return {
        apply(table, now, retry) {
          const old = table.get(key);
          if (old && exclusive) {
            // Our own earlier application of this operation, which reached the grid.
            if (retry && sameCaps(old, caps)) return;
            throw new DirectoryError(
              'ERR_DIR_EXISTS',
              `${JSON.stringify(key)} already exists in the directory; nothing was changed`,
              key,
            );
          }
          table.set({
            name: key,
            ...caps,
            metadata: updateMetadata(old?.metadata, supplied, now),
          });
        },
      };
    });
  }

  /** Unlinks `name`; returns the entry removed (undefined if absent and !mustExist). */
  remove(dirCap: string, name: string, options: RemoveOptions = {}): Promise<DirEntry | undefined> {
    return this.submit(dirCap, () => {
      const key = existingName(name, this.names);
      const mustExist = options.mustExist ?? true;
      let removed: DirEntry | undefined;
      return {
        apply(table, _now, retry) {
          const old = table.get(key);
          if (!old) {
            if (retry && removed) return removed; // our earlier application removed it
            if (mustExist) throw notFound(key);
            return undefined;
          }
          table.delete(key);
          removed = entryOf(old);
          return removed;
        },
      };
    });
  }

  /**
   * Renames a child within one directory, carrying its caps and metadata (the `tahoe`
   * timestamps are those of a new link, or of the replaced entry's link).
   */
  rename(dirCap: string, from: string, to: string, options: RenameOptions = {}): Promise<void> {
    return this.submit(dirCap, () => {
      const source = existingName(from, this.names);
      const target = checkChildName(to, this.names);
      const replace = options.replace ?? true;
      let moved: ChildCaps | undefined;
      return {
        apply(table, now, retry) {
          const child = table.get(source);
          if (source === target) {
            if (!child) throw notFound(source);
            return;
          }
          if (!child) {
            // Our earlier application moved it; the grid has that state already.
            const there = table.get(target);
            if (retry && moved && there && sameCaps(there, moved)) return;
            throw notFound(source);
          }
          const old = table.get(target);
          if (old && !replace) {
            throw new DirectoryError(
              'ERR_DIR_EXISTS',
              `cannot rename ${JSON.stringify(source)} to ${JSON.stringify(target)}: the target exists; nothing was changed`,
              target,
            );
          }
          table.delete(source);
          table.set({
            name: target,
            rwCap: child.rwCap,
            roCap: child.roCap,
            metadata: updateMetadata(old?.metadata, child.metadata, now),
          });
          moved = { rwCap: child.rwCap, roCap: child.roCap };
        },
      };
    });
  }

  /**
   * Merges `patch` into a child's metadata (a key set to undefined is removed; `tahoe` is
   * not patchable) and sets tahoe.linkmotime to now. ERR_DIR_NOT_FOUND if absent.
   * With `onlyIf`, the patch applies only while the child still has that read cap and
   * size — as seen in the version the update is applied to, also when re-applied after a
   * collision — so a correction based on an older look cannot undo a newer change.
   * Resolves with whether it applied (a refusal may rest on this client's cached copy:
   * then nothing is written, and a later look can try again).
   */
  setMetadata(
    dirCap: string,
    name: string,
    patch: Partial<ChildMetadata>,
    options: { onlyIf?: { roCap?: string; size?: number } } = {},
  ): Promise<boolean> {
    const { onlyIf } = options;
    return this.submit(dirCap, () => {
      const key = existingName(name, this.names);
      const removals = Object.keys(patch).filter((k) => patch[k] === undefined);
      const changes = checkMetadata(patch);
      return {
        apply(table, now) {
          const old = table.get(key);
          if (!old) throw notFound(key);
          if (onlyIf?.roCap !== undefined && old.roCap !== onlyIf.roCap) return false;
          if (onlyIf && 'size' in onlyIf && old.metadata.size !== onlyIf.size) return false;
          const merged: JsonObject = { ...old.metadata, ...changes };
          for (const k of removals) delete merged[k];
          table.set({ ...old, metadata: updateMetadata(old.metadata, merged, now) });
          return true;
        },
      };
    });
  }

  /**
   * Publishes pending changes now — of one directory, or of all — and resolves when every
   * change queued before the call is published (rejects if one of those updates failed).
   * The mount calls it on fsync of a directory and before unmount.
   */
  async flush(dirCap?: string): Promise<void> {
    let queues: DirQueue[];
    if (dirCap === undefined) queues = [...this.queues.values()];
    else {
      // Any cap of the directory names its queue; a read cap simply has nothing queued.
      const cap = parseDirectoryCap(dirCap);
      const q = 'storageIndex' in cap ? this.queues.get(toHex(cap.storageIndex)) : undefined;
      queues = q ? [q] : [];
    }
    const waits: Promise<void>[] = [];
    for (const q of queues) {
      if (q.running) waits.push(q.running.done.promise);
      if (q.pending) {
        waits.push(q.pending.done.promise);
        q.pending.due = true;
        clearTimeout(q.pending.timer);
        this.pump(q);
      }
    }
    await Promise.all(waits);
  }

  // ---- internals ----

  /**
   * Queues one operation for its directory. Everything up to the queueing happens
   * synchronously, so a flush() right after an un-awaited call includes it.
   */
  private submit<R>(dirCap: string, make: () => OperationBody<R>): Promise<R> {
    let body: OperationBody<R>;
    let cap: MutableWriteCap;
    try {
      cap = writableDirectory(dirCap);
      body = make();
    } catch (error) {
      return Promise.reject(error);
    }
    return new Promise<R>((resolve, reject) => {
      const op: Operation = {
        apply: body.apply,
        appliedBefore: false,
        resolve: resolve as (value: unknown) => void,
        reject,
      };
      const key = queueKey(cap);
      let q = this.queues.get(key);
      if (!q) {
        q = { key, cap, capText: dirCap };
        this.queues.set(key, q);
      }
      if (!q.pending) {
        const batch: Batch = { ops: [], due: false, done: deferred() };
        const queue = q;
        batch.timer = setTimeout(() => {
          batch.due = true;
          this.pump(queue);
        }, this.windowFor(key));
        q.pending = batch;
      }
      q.pending.ops.push(op);
    });
  }

  /**
   * How long a new batch of directory `key` collects: the window, or longer for a folder
   * whose updates are slow (their changes arriving meanwhile go out in one update).
   */
  private windowFor(key: string): number {
    const last = this.lastUpdateMs.get(key) ?? 0;
    return Math.max(this.batchWindowMs, Math.min(this.pace.maxMs, this.pace.factor * last));
  }

  /** Starts the pending batch if it is due and no update of that directory is running. */
  private pump(q: DirQueue): void {
    if (q.running || !q.pending?.due) {
      if (!q.running && !q.pending) this.queues.delete(q.key);
      return;
    }
    const batch = q.pending;
    q.pending = undefined;
    q.running = batch;
    void this.publish(q, batch).finally(() => {
      q.running = undefined;
      this.pump(q);
    });
  }

  /** One modify() applying every operation of the batch, in order, to the fresh table. */
  private async publish(q: DirQueue, batch: Batch): Promise<void> {
    const outcomes = new Map<Operation, { ok: boolean; value: unknown }>();
    let result: { plaintext: Uint8Array } | undefined;
    let last: KnownTable | undefined;
    const started = performance.now();
    const readAt = Date.now();
    const lineage = this.versionsSeen.get(tableKey(q.cap)) ?? 0;
    let applications = 0;
    try {
      result = await this.client.modify(q.capText, (old) => {
        applications++;
        // Only the entries the operations touch are packed again (ChildTable).
        const table = this.tableOf(q.cap, old).clone();
        const now = Date.now() / 1000;
        for (const op of batch.ops) {
          // An operation validates before it changes the table, so one that fails leaves it
          // as it was and the others still apply.
          try {
            outcomes.set(op, { ok: true, value: op.apply(table, now, op.appliedBefore) });
            op.appliedBefore = true;
          } catch (error) {
            outcomes.set(op, { ok: false, value: error });
          }
        }
        const packed = table.pack();
        last = { packed, table };
        return packed;
      });
      this.stats.updates++;
      this.stats.operations += batch.ops.length;
      this.stats.retries += applications - 1;
      this.noteDuration(q.key, performance.now() - started);
    } catch (error) {
      for (const op of batch.ops) op.reject(error);
      batch.done.reject(error);
      return;
    }
    // What was published is what the next change and the next listing start from.
    if (last && result.plaintext === last.packed) {
      this.keepTable(tableKey(q.cap), last);
      // Applied once, to the version last seen: nobody else wrote since.
      if (applications === 1 && (this.versionsSeen.get(tableKey(q.cap)) ?? 0) === lineage)
        this.onInSync?.(q.capText, readAt, lineage);
    }
    for (const op of batch.ops) {
      const outcome = outcomes.get(op)!;
      if (outcome.ok) op.resolve(outcome.value);
      else op.reject(outcome.value);
    }
    batch.done.resolve();
  }

  private noteDuration(key: string, ms: number): void {
    if (this.pace.factor === 0) return;
    this.lastUpdateMs.delete(key);
    this.lastUpdateMs.set(key, ms);
    if (this.lastUpdateMs.size > TABLE_CACHE_SIZE) {
      this.lastUpdateMs.delete(this.lastUpdateMs.keys().next().value!);
    }
  }

  /**
   * The table of a directory's plaintext: the one kept when the bytes are those last seen,
   * else unpacked, reusing every entry the last one had byte for byte (no decryption).
   */
  private tableOf(cap: MutableWriteCap | MutableReadCap, plaintext: Uint8Array): ChildTable {
    const key = tableKey(cap);
    const known = this.tables.get(key);
    if (
      known &&
      known.packed.length === plaintext.length &&
      Buffer.compare(known.packed, plaintext) === 0
    ) {
      this.tables.delete(key); // most recently used last
      this.tables.set(key, known);
      return known.table;
    }
    const writeKey = cap.kind === 'ssk-write' ? cap.writekey : undefined;
    this.versionsSeen.set(key, (this.versionsSeen.get(key) ?? 0) + 1);
    const table = ChildTable.unpack(writeKey, plaintext, { names: this.names }, known?.table);
    this.keepTable(key, { packed: plaintext, table });
    return table;
  }

  private keepTable(key: string, known: KnownTable): void {
    const old = this.tables.get(key);
    if (old) this.tableBytes -= old.packed.length;
    this.tables.delete(key);
    this.tables.set(key, known);
    this.tableBytes += known.packed.length;
    // Forget the least recently used beyond the count and the byte budget (the entries
    // kept in a table take about as much again as its packed bytes).
    while (
      this.tables.size > 1 &&
      (this.tables.size > TABLE_CACHE_SIZE || this.tableBytes > TABLE_CACHE_BYTES)
    ) {
      const [oldest, value] = this.tables.entries().next().value!;
      this.tables.delete(oldest);
      this.tableBytes -= value.packed.length;
    }
  }
}

interface KnownTable {
  packed: Uint8Array;
  table: ChildTable;
}

function tableKey(cap: MutableWriteCap | MutableReadCap): string {
  return `${toHex(cap.storageIndex)}:${cap.kind === 'ssk-write' ? 'w' : 'r'}`;
}

const TABLE_CACHE_SIZE = 256;
const TABLE_CACHE_BYTES = 64 << 20;
const MAX_NAME_BYTES = 255;
const LONE_SURROGATE = /\p{Cs}/u;

type Table = ChildTable;

interface OperationBody<R> {
  /**
   * Applies the operation to `table`, or throws (a DirectoryError) leaving it unchanged.
   * `retry` is true when an earlier application succeeded in an attempt that collided, so
   * its effect may already be on the grid.
   */
  apply(table: Table, now: number, retry: boolean): R;
}

interface Operation extends OperationBody<unknown> {
  appliedBefore: boolean;
  resolve(value: unknown): void;
  reject(error: unknown): void;
}

interface Deferred {
  promise: Promise<void>;
  resolve(): void;
  reject(error: unknown): void;
}

interface Batch {
  ops: Operation[];
  /** The window has passed or a flush asked for it. */
  due: boolean;
  timer?: ReturnType<typeof setTimeout>;
  /** Settles when the batch's update is published (or failed). */
  done: Deferred;
}

interface DirQueue {
  key: string;
  cap: MutableWriteCap;
  capText: string;
  pending?: Batch;
  running?: Batch;
}

function deferred(): Deferred {
  let resolve!: () => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  promise.catch(() => {}); // only flush() waits on it; callers get errors through their ops
  return { promise, resolve, reject };
}

function queueKey(cap: MutableWriteCap): string {
  return toHex(cap.storageIndex);
}

function parseDirectoryCap(dirCap: string): Cap {
  const cap = parseCap(dirCap);
  if (!cap.directory) {
    throw new DirectoryError(
      'ERR_DIR_NOT_DIRECTORY',
      `a file cap (URI:${capKindName(cap)}) was given where a directory cap (URI:DIR2…) is required`,
    );
  }
  return cap;
}

function writableDirectory(dirCap: string): MutableWriteCap {
  const cap = parseDirectoryCap(dirCap);
  if (cap.kind !== 'ssk-write') {
    throw new DirectoryError(
      'ERR_DIR_READ_ONLY',
      `the directory cap is read-only (URI:${capKindName(cap)}); changing the directory needs its write cap (URI:DIR2:…)`,
    );
  }
  return cap;
}

function notFound(name: string): DirectoryError {
  return new DirectoryError(
    'ERR_DIR_NOT_FOUND',
    `${JSON.stringify(name)} is not in the directory`,
    name,
  );
}

function badName(name: string, problem: DirNameProblem, why: string): DirectoryError {
  return new DirectoryError(
    'ERR_DIR_NAME',
    `invalid name ${JSON.stringify(name)}: ${why}`,
    name,
    problem,
  );
}

/** A name to look up or remove: any Unicode name a directory may hold (even a foreign one). */
function existingName(name: string, form: NameForm = 'nfc'): string {
  if (typeof name !== 'string' || LONE_SURROGATE.test(name)) {
    throw badName(String(name), 'not-unicode', 'names must be Unicode (no lone UTF-16 surrogates)');
  }
  const key = form === 'nfc' ? name.normalize('NFC') : name;
  if (key === '') throw badName(key, 'empty', 'names must not be empty');
  return key;
}

/**
 * Checks and (unless `form` is 'exact') NFC-normalises a child name; throws DirectoryError ERR_DIR_NAME when it is
 * empty, '.', '..', contains '/' or NUL, or is longer than 255 UTF-8 bytes.
 */
export function checkChildName(name: string, form: NameForm = 'nfc'): string {
  const key = existingName(name, form);
  if (key === '.' || key === '..') throw badName(key, 'dot', "'.' and '..' are reserved");
  if (key.includes('/')) throw badName(key, 'slash', "names must not contain '/'");
  if (key.includes('\0')) throw badName(key, 'nul', 'names must not contain NUL');
  const bytes = Buffer.byteLength(key, 'utf8');
  if (bytes > MAX_NAME_BYTES) {
    throw badName(key, 'too-long', `${bytes} UTF-8 bytes; at most ${MAX_NAME_BYTES} are allowed`);
  }
  return key;
}

/** The caps to link a node under, from any one of its caps (write cap → both; read cap → ro). */
export function childCapsOf(cap: string): ChildCaps {
  const parsed = parseCap(cap);
  if (parsed.kind === 'ssk-write') {
    return {
      rwCap: formatCap({ ...parsed, alleged: undefined }),
      roCap: formatCap(readCapOf(parsed)),
    };
  }
  // Read caps, immutable and literal caps are linked read-only; a verify cap cannot be read.
  if (parsed.kind === 'ssk-verify') requireReadCap(parsed);
  return { roCap: formatCap({ ...parsed, alleged: undefined }) };
}

const ALLEGED_READONLY = 'ro.';

function checkChildCaps(child: ChildCaps): ChildCaps {
  if (child === null || typeof child !== 'object' || typeof child.roCap !== 'string') {
    throw new TypeError('child must be { rwCap?: string; roCap: string }');
  }
  if (child.rwCap !== undefined && typeof child.rwCap !== 'string') {
    throw new TypeError('child.rwCap must be a string when given');
  }
  const rwCap = child.rwCap || undefined;
  if (rwCap && (rwCap.startsWith(ALLEGED_READONLY) || rwCap.startsWith('imm.'))) {
    throw new CapError(
      'ERR_CAP_MUST_BE_READONLY',
      `the child's write cap carries the prefix ${JSON.stringify(rwCap.split('.')[0] + '.')}, which says it is not a write cap`,
    );
  }
  // The packed form drops a leading `ro.` (§8.1); compare caps in that form.
  const roCap = child.roCap.startsWith(ALLEGED_READONLY)
    ? child.roCap.slice(ALLEGED_READONLY.length)
    : child.roCap;
  return rwCap ? { rwCap, roCap } : { roCap };
}

/** Supplied metadata as a JSON object (undefined values dropped), checked serialisable now. */
function checkMetadata(metadata: Partial<ChildMetadata>): JsonObject {
  if (!isPlainObject(metadata)) {
    throw new DirnodeFormatError('ERR_DIRNODE_METADATA', 'metadata must be a plain object');
  }
  const out: JsonObject = {};
  for (const [k, v] of Object.entries(metadata)) if (v !== undefined) out[k] = v as JsonValue;
  serializeMetadata(out); // throws now, for this caller, rather than failing a whole batch
  return structuredClone(out);
}

function sameCaps(child: DirChild | ChildCaps, caps: ChildCaps): boolean {
  return (child.rwCap ?? '') === (caps.rwCap ?? '') && child.roCap === caps.roCap;
}

/**
 * Tahoe's update_metadata (§8.2): supplied metadata replaces everything but `tahoe`, which
 * is kept; linkcrtime is set on the first link (seeded from a legacy `ctime`), linkmotime
 * is now.
 */
function updateMetadata(
  old: JsonObject | undefined,
  supplied: JsonObject | undefined,
  now: number,
): JsonObject {
  const previous: JsonObject = old ? structuredClone(old) : {};
  let metadata = previous;
  if (supplied !== undefined) {
    metadata = structuredClone(supplied);
    delete metadata.tahoe;
    if ('tahoe' in previous) metadata.tahoe = previous.tahoe;
  }
  const system: JsonObject = isPlainObject(metadata.tahoe) ? { ...metadata.tahoe } : {};
  if (typeof system.linkcrtime !== 'number') {
    system.linkcrtime = typeof previous.ctime === 'number' ? previous.ctime : now;
  }
  system.linkmotime = now;
  metadata.tahoe = system;
  return metadata;
}

function isDirectoryCap(cap: string): boolean {
  try {
    return cap !== '' && parseCap(cap).directory;
  } catch {
    return false; // an unknown or malformed cap is kept, but is not a directory we can open
  }
}

// Children are never changed once in a table, and a re-read reuses the unchanged ones:
// whether each is a directory (a full cap parse, which derives keys) is worked out once.
const directoryChildren = new WeakMap<DirChild, boolean>();

function entryOf(child: DirChild): DirEntry {
  let isDirectory = directoryChildren.get(child);
  if (isDirectory === undefined) {
    isDirectory = isDirectoryCap(child.rwCap || child.roCap);
    directoryChildren.set(child, isDirectory);
  }
  const entry: DirEntry = {
    name: child.name,
    roCap: child.roCap,
    metadata: structuredClone(child.metadata) as ChildMetadata,
    isDirectory,
  };
  if (child.rwCap) entry.rwCap = child.rwCap;
  return entry;
}
