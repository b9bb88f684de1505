// The client's LevelDB cache (one database per client directory). Everything here is
// advisory — losing it costs round trips, never correctness — except the rollback guard
// (the highest version this client has verified), which only ever moves up.
//
// The mount publishes on Node's main thread, where every LevelDB call is a hand-off to
// another thread and back. So the small records (versions, hints, keys, attempts) are
// also kept in memory — this process holds the database's lock, so memory and disk cannot
// disagree — and writes go out in groups: a record is handed to LevelDB at once when no
// batch is being written, else it joins the next batch. A write resolves once its batch is
// on disk, in the order written.
import { Level } from 'level';
import { rename, rm, stat } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { toBase32 } from '../encoding/base32.js';
import { equalBytes, fromHex, toHex } from '../encoding/bytes.js';
import { GroupCommit } from './group-commit.js';

export interface VersionRecord {
  seqnum: number;
  roothash: Uint8Array;
}

/** Which server held which share number of the version this client last saw. */
export interface ServermapHint {
  seqnum: number;
  roothash: Uint8Array;
  /** The 57-byte checkstring the shares held: the test in the next read-test-write. */
  checkstring: Uint8Array;
  k: number;
  n: number;
  /** Share size in bytes, so the next read can fetch whole shares in one request. */
  shareSize: number;
  /** server id (base32) → share numbers held there. */
  shares: Record<string, number[]>;
}

export interface CachedData extends VersionRecord {
  plaintext: Uint8Array;
}

export interface ClientCacheOptions {
  /** Upper bound on cached plaintext bytes; least recently used entries go first. */
  maxDataBytes?: number;
  /** Called with a human-readable line when the cache repairs itself. */
  warn?: (message: string) => void;
  /** How many small records (versions, hints, keys, attempts) to keep in memory. */
  rememberedRecords?: number;
}

export class CacheError extends Error {
  readonly code = 'ERR_CACHE_LOCKED';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'CacheError';
  }
}

type Bytes = Uint8Array;
type Db = Level<string, Bytes>;

interface DataMeta {
  size: number;
  used: number;
}

const DEFAULT_MAX_DATA = 64 * 1024 * 1024;

/** Small records kept in memory (least recently used first out). */
const MAX_REMEMBERED = 50_000;

function openSublevel(db: Db, name: string) {
  return db.sublevel<string, Bytes>(name, { valueEncoding: 'view' });
}
type Sub = ReturnType<typeof openSublevel>;
type WriteOp =
  { type: 'put'; sub: Sub; key: string; value: Bytes } | { type: 'del'; sub: Sub; key: string };

/** What publishing a version taught this client (MutableClient: one call per publish). */
export interface PublishedVersion {
  version: VersionRecord;
  hint: ServermapHint;
  plaintext: Bytes;
  /**
   * The storage index is brand new (the file's key was generated for this publish), so no
   * version can be recorded for it yet: there is nothing to read first.
   */
  fresh?: boolean;
}

function siKey(si: Bytes): string {
  return toBase32(si);
}

function encodeJson(value: unknown): Bytes {
  return new TextEncoder().encode(JSON.stringify(value));
}

function encodeHint(hint: ServermapHint): Bytes {
  return encodeJson({
    ...hint,
    roothash: toHex(hint.roothash),
    checkstring: toHex(hint.checkstring),
  });
}

function digest(bytes: Bytes): Bytes {
  return new Uint8Array(createHash('sha256').update(bytes).digest());
}

export class ClientCache {
  private readonly versions;
  private readonly privkeys;
  private readonly hints;
  private readonly data;
  private readonly dataMeta;
  private readonly attempts;
  /** LRU order of cached plaintexts: Map keeps insertion order, so touching = re-insert. */
  private readonly lru = new Map<string, DataMeta>();
  private dataBytes = 0;
  private clock = 0;
  /** Small records by `sublevel name!key`: the stored bytes, or null when absent. */
  private readonly remembered = new Map<string, Bytes | null>();
  /** Records in batches not yet written (any sublevel): the newest value, and how many. */
  private readonly unwritten = new Map<string, { value: Bytes | null; count: number }>();
  private readonly names = new Map<Sub, string>();
  private readonly commits = new GroupCommit<WriteOp>(
    (ops) =>
      this.db.batch(
        ops.map((op) =>
          op.type === 'put'
            ? { type: 'put' as const, sublevel: op.sub, key: op.key, value: op.value }
            : { type: 'del' as const, sublevel: op.sub, key: op.key },
        ),
      ),
    'cache',
    (ops, err) => this.written(ops, err),
  );

  private constructor(
    private readonly db: Db,
    private readonly maxDataBytes: number,
    private readonly warn: (message: string) => void,
    private readonly maxRemembered: number,
  ) {
    const sub = (name: string) => {
      const level = openSublevel(db, name);
      this.names.set(level, name);
      return level;
    };
    this.versions = sub('versions');
    this.privkeys = sub('privkeys');
    this.hints = sub('hints');
    this.data = sub('data');
    this.dataMeta = sub('data-meta');
    this.attempts = sub('attempts');
  }

  /**
   * Opens (or creates) the cache at `location`. A database that cannot be opened because
   * it is corrupt is moved aside to `<location>.corrupt-<time>` and a new one is created:
   * the client loses speed, not data. A database locked by another process is an error.
   */
  static async open(location: string, options: ClientCacheOptions = {}): Promise<ClientCache> {
    const warn = options.warn ?? ((m: string) => console.warn(m));
    let db = new Level<string, Bytes>(location, { valueEncoding: 'view' });
    try {
      await db.open();
    } catch (err) {
      const cause = (err as { cause?: { code?: string; message?: string } }).cause;
      const text = `${(err as Error).message} ${cause?.message ?? ''}`;
      if (/lock/i.test(text)) {
        throw new CacheError(
          `the cache database ${location} is in use by another slotfs process; stop it or use another client directory`,
          { cause: err },
        );
      }
      const aside = `${location}.corrupt-${Date.now()}`;
      warn(
        `slotfs: cache database ${location} could not be opened (${text.trim()}); moved it to ${aside} and started an empty cache`,
      );
      if (await exists(location))
        await rename(location, aside).catch(() => rm(location, { recursive: true, force: true }));
      db = new Level<string, Bytes>(location, { valueEncoding: 'view' });
      await db.open();
    }
    const cache = new ClientCache(
      db,
      options.maxDataBytes ?? DEFAULT_MAX_DATA,
      warn,
      options.rememberedRecords ?? MAX_REMEMBERED,
    );
    await cache.loadLru();
    return cache;
  }

  async close(): Promise<void> {
    await this.settled();
    await this.db.close();
  }

  /** Resolves once every write asked for so far is on disk (or failed). */
  async settled(): Promise<void> {
    await this.commits.settled();
  }

  // ---- rollback guard ----

  async highestVersion(si: Bytes): Promise<VersionRecord | undefined> {
    const raw = await this.read(this.versions, siKey(si));
    return raw ? this.parse(raw, parseVersion, this.versions, siKey(si)) : undefined;
  }

  /** Records a verified version; keeps the higher of the stored and the new one. */
  async recordVerifiedVersion(si: Bytes, version: VersionRecord): Promise<void> {
    await this.highestVersion(si); // into memory
    const op = this.versionUpdate(si, version);
    if (op) await this.write([op]);
  }

  /**
   * The write that records `version` if it is higher than the stored one, else nothing.
   * Synchronous, on what memory holds (read first): the caller queues the write in the same
   * step, so a concurrent call decides on it and cannot lower the guard.
   */
  private versionUpdate(si: Bytes, version: VersionRecord): WriteOp | undefined {
    const key = siKey(si);
    const raw = this.peek(this.versions, key);
    if (raw) {
      let current: VersionRecord | undefined;
      try {
        current = parseVersion(raw);
      } catch {
        // damaged: replaced below
      }
      if (current && current.seqnum >= version.seqnum) return undefined;
    }
    return {
      type: 'put',
      sub: this.versions,
      key,
      value: encodeJson({ seqnum: version.seqnum, roothash: toHex(version.roothash) }),
    };
  }

  /**
   * After a publish: the version (rollback guard), the servermap hint and the plaintext,
   * written together in one batch.
   */
  async recordPublished(si: Bytes, published: PublishedVersion): Promise<void> {
    const key = siKey(si);
    if (!published.fresh) await this.highestVersion(si); // into memory
    const versionOp = this.versionUpdate(si, published.version);
    const ops: WriteOp[] = versionOp ? [versionOp] : [];
    ops.push({ type: 'put', sub: this.hints, key, value: encodeHint(published.hint) });
    ops.push(...this.dataOps(key, published.version, published.plaintext));
    await this.write(ops);
    await this.evict();
  }

  // ---- encrypted private keys ----

  async encryptedPrivateKey(si: Bytes): Promise<Bytes | undefined> {
    const raw = await this.read(this.privkeys, siKey(si));
    return raw ? new Uint8Array(raw) : undefined;
  }

  async putEncryptedPrivateKey(si: Bytes, encprivkey: Bytes): Promise<void> {
    await this.write([
      { type: 'put', sub: this.privkeys, key: siKey(si), value: new Uint8Array(encprivkey) },
    ]);
  }

  // ---- servermap hints ----

  async servermapHint(si: Bytes): Promise<ServermapHint | undefined> {
    const raw = await this.read(this.hints, siKey(si));
    return raw ? this.parse(raw, parseHint, this.hints, siKey(si)) : undefined;
  }

  /**
   * What highestVersion, servermapHint and cachedData give for each of `sis`, read with
   * one request per table: a folder's files checked together cost three reads, not 3 000.
   */
  async recordsMany(sis: Bytes[]): Promise<
    Array<{
      version?: VersionRecord;
      hint?: ServermapHint;
      data?: CachedData;
    }>
  > {
    const keys = sis.map(siKey);
    const [versions, hints, datas] = await Promise.all([
      this.readMany(this.versions, keys),
      this.readMany(this.hints, keys),
      this.readMany(this.data, keys),
    ]);
    return Promise.all(
      keys.map(async (key, i) => {
        const version =
          versions[i] && (await this.parse(versions[i], parseVersion, this.versions, key));
        const hint = hints[i] && (await this.parse(hints[i], parseHint, this.hints, key));
        const data = datas[i] && (await this.parse(datas[i], parseDataEntry, this.data, key));
        if (data) this.touch(key, data.plaintext.length);
        return { version, hint, data };
      }),
    );
  }

  async putServermapHint(si: Bytes, hint: ServermapHint): Promise<void> {
    await this.write([{ type: 'put', sub: this.hints, key: siKey(si), value: encodeHint(hint) }]);
  }

  async forgetServermapHint(si: Bytes): Promise<void> {
    await this.write([{ type: 'del', sub: this.hints, key: siKey(si) }]);
  }

  // ---- own publish attempts not known to have succeeded ----

  /**
   * Versions ("seqnum:roothash hex") this client sent in publishes that failed, each with
   * the version it was based on: one may still land after a timeout, and must then be
   * recognised as ours — also by the next process, when the write-back journal replays.
   */
  async ownAttempts(si: Bytes): Promise<Array<[string, string]>> {
    const raw = await this.read(this.attempts, siKey(si));
    if (!raw) return [];
    const parsed = await this.parse(raw, parseAttempts, this.attempts, siKey(si));
    return parsed ?? [];
  }

  async putOwnAttempts(si: Bytes, attempts: Array<[string, string]>): Promise<void> {
    await this.write([
      { type: 'put', sub: this.attempts, key: siKey(si), value: encodeJson(attempts) },
    ]);
  }

  async forgetOwnAttempts(si: Bytes): Promise<void> {
    await this.write([{ type: 'del', sub: this.attempts, key: siKey(si) }]);
  }

  // ---- plaintext of the last version read or written ----

  /** The cached plaintext, or undefined when absent or failing its checksum. */
  async cachedData(si: Bytes): Promise<CachedData | undefined> {
    const key = siKey(si);
    const raw = await this.read(this.data, key);
    if (!raw) return undefined;
    // Layout: u32 header length ‖ JSON header {seqnum, roothash, sha256} ‖ plaintext.
    const entry = await this.parse(raw, parseDataEntry, this.data, key);
    if (!entry) return undefined;
    this.touch(key, entry.plaintext.length);
    return entry;
  }

  async putData(si: Bytes, version: VersionRecord, plaintext: Bytes): Promise<void> {
    await this.write(this.dataOps(siKey(si), version, plaintext));
    await this.evict();
  }

  /** The writes that cache `plaintext` (or drop the entry, when it is beyond the bound). */
  private dataOps(key: string, version: VersionRecord, plaintext: Bytes): WriteOp[] {
    if (plaintext.length > this.maxDataBytes) return this.dropOps(key);
    const header = encodeJson({
      seqnum: version.seqnum,
      roothash: toHex(version.roothash),
      sha256: toHex(digest(plaintext)),
    });
    const value = new Uint8Array(4 + header.length + plaintext.length);
    new DataView(value.buffer).setUint32(0, header.length);
    value.set(header, 4);
    value.set(plaintext, 4 + header.length);
    const meta = this.touch(key, plaintext.length);
    return [
      { type: 'put', sub: this.data, key, value },
      { type: 'put', sub: this.dataMeta, key, value: encodeJson(meta) },
    ];
  }

  /** Total plaintext bytes currently cached (for status and tests). */
  get cachedDataBytes(): number {
    return this.dataBytes;
  }

  private touch(key: string, size: number): DataMeta {
    const old = this.lru.get(key);
    if (old) {
      this.dataBytes -= old.size;
      this.lru.delete(key);
    }
    const meta = { size, used: ++this.clock };
    this.lru.set(key, meta);
    this.dataBytes += size;
    return meta;
  }

  private async dropData(key: string): Promise<void> {
    await this.write(this.dropOps(key));
  }

  private dropOps(key: string): WriteOp[] {
    const old = this.lru.get(key);
    if (old) {
      this.dataBytes -= old.size;
      this.lru.delete(key);
    }
    return [
      { type: 'del', sub: this.data, key },
      { type: 'del', sub: this.dataMeta, key },
    ];
  }

  private async evict(): Promise<void> {
    const ops: WriteOp[] = [];
    for (const key of this.lru.keys()) {
      if (this.dataBytes <= this.maxDataBytes) break;
      ops.push(...this.dropOps(key));
    }
    if (ops.length > 0) await this.write(ops);
  }

  // ---- memory and grouped writes ----

  private memoryKey(sub: Sub, key: string): string {
    return `${this.names.get(sub)}!${key}`;
  }

  /** The small records read while publishing are kept in memory; plaintexts are not. */
  private kept(sub: Sub): boolean {
    return (
      sub === this.versions || sub === this.hints || sub === this.privkeys || sub === this.attempts
    );
  }

  /** The value as far as this process knows without reading: bytes, null (absent) or unknown. */
  private peek(sub: Sub, key: string): Bytes | null | undefined {
    const k = this.memoryKey(sub, key);
    const pending = this.unwritten.get(k);
    if (pending) return pending.value;
    const known = this.remembered.get(k);
    if (known !== undefined) {
      this.remembered.delete(k);
      this.remembered.set(k, known);
    }
    return known;
  }

  private async read(sub: Sub, key: string): Promise<Bytes | undefined> {
    const known = this.peek(sub, key);
    if (known !== undefined) return known ?? undefined;
    const raw = (await sub.get(key)) ?? null;
    // A write made while reading is newer than what was read.
    const now = this.peek(sub, key);
    if (now !== undefined) return now ?? undefined;
    if (this.kept(sub)) this.remember(this.memoryKey(sub, key), raw);
    return raw ?? undefined;
  }

  /** read() of many keys of one table: those not in memory in one getMany. */
  private async readMany(sub: Sub, keys: string[]): Promise<Array<Bytes | undefined>> {
    const out = keys.map((key) => this.peek(sub, key));
    const unknown = keys.filter((_, i) => out[i] === undefined);
    if (unknown.length === 0) return out.map((v) => v ?? undefined);
    const raws = await sub.getMany(unknown);
    let next = 0;
    return keys.map((key, i) => {
      if (out[i] !== undefined) return out[i] ?? undefined;
      const raw = raws[next++] ?? null;
      // A write made while reading is newer than what was read.
      const now = this.peek(sub, key);
      if (now !== undefined) return now ?? undefined;
      if (this.kept(sub)) this.remember(this.memoryKey(sub, key), raw);
      return raw ?? undefined;
    });
  }

  private remember(k: string, value: Bytes | null): void {
    this.remembered.delete(k);
    this.remembered.set(k, value);
    if (this.remembered.size > this.maxRemembered) {
      this.remembered.delete(this.remembered.keys().next().value!);
    }
  }

  /** Queues `ops` as one unit of the next batch; resolves when that batch is written. */
  private write(ops: WriteOp[]): Promise<void> {
    for (const op of ops) {
      const k = this.memoryKey(op.sub, op.key);
      const value = op.type === 'put' ? op.value : null;
      const pending = this.unwritten.get(k);
      this.unwritten.set(k, { value, count: (pending?.count ?? 0) + 1 });
      if (this.kept(op.sub)) this.remember(k, value);
    }
    return this.commits.add(ops);
  }

  /** A batch is written (or failed): its records are no longer pending. */
  private written(ops: WriteOp[], err?: unknown): void {
    for (const op of ops) {
      const k = this.memoryKey(op.sub, op.key);
      const pending = this.unwritten.get(k);
      if (pending && --pending.count === 0) this.unwritten.delete(k);
      // Memory must not claim what the disk may not hold: read it again next time.
      if (err !== undefined) this.remembered.delete(k);
    }
  }

  private async loadLru(): Promise<void> {
    const entries: Array<[string, DataMeta]> = [];
    for await (const [key, raw] of this.dataMeta.iterator()) {
      try {
        const meta = JSON.parse(new TextDecoder().decode(raw)) as DataMeta;
        if (Number.isSafeInteger(meta.size) && Number.isSafeInteger(meta.used)) {
          entries.push([key, meta]);
          continue;
        }
      } catch {
        // fall through: a damaged bookkeeping entry only costs its cached data
      }
      await this.write([
        { type: 'del', sub: this.data, key },
        { type: 'del', sub: this.dataMeta, key },
      ]);
    }
    entries.sort((a, b) => a[1].used - b[1].used);
    for (const [key, meta] of entries) {
      this.lru.set(key, meta);
      this.dataBytes += meta.size;
      this.clock = Math.max(this.clock, meta.used);
    }
    await this.evict();
  }

  /** Parses a stored value; a damaged one is deleted and reported as absent. */
  private async parse<T>(
    raw: Bytes,
    parser: (raw: Bytes) => T,
    where: Sub,
    key: string,
  ): Promise<T | undefined> {
    try {
      return parser(raw);
    } catch (err) {
      this.warn(`slotfs: discarding a damaged cache entry for ${key}: ${(err as Error).message}`);
      if (where === this.data) await this.dropData(key).catch(() => undefined);
      else await this.write([{ type: 'del', sub: where, key }]).catch(() => undefined);
      return undefined;
    }
  }
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

function json(raw: Bytes): Record<string, unknown> {
  const value: unknown = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(raw));
  if (typeof value !== 'object' || value === null) throw new Error('not a JSON object');
  return value as Record<string, unknown>;
}

function seqnumOf(v: unknown): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw new Error('bad seqnum');
  return v;
}

function hexOf(v: unknown, length?: number): Bytes {
  if (typeof v !== 'string') throw new Error('bad hex field');
  const bytes = fromHex(v);
  if (length !== undefined && bytes.length !== length) throw new Error('bad field length');
  return bytes;
}

function parseAttempts(raw: Bytes): Array<[string, string]> {
  const value: unknown = JSON.parse(new TextDecoder().decode(raw));
  const ok =
    Array.isArray(value) &&
    value.every(
      (e) =>
        Array.isArray(e) && e.length === 2 && typeof e[0] === 'string' && typeof e[1] === 'string',
    );
  if (!ok) throw new Error('not a list of [version, base] pairs');
  return value as Array<[string, string]>;
}

function parseVersion(raw: Bytes): VersionRecord {
  const o = json(raw);
  return { seqnum: seqnumOf(o.seqnum), roothash: hexOf(o.roothash, 32) };
}

function parseHint(raw: Bytes): ServermapHint {
  const o = json(raw);
  const shares = o.shares;
  if (typeof shares !== 'object' || shares === null) throw new Error('bad shares map');
  for (const list of Object.values(shares)) {
    if (!Array.isArray(list) || !list.every((n) => Number.isInteger(n) && n >= 0 && n < 256)) {
      throw new Error('bad share list');
    }
  }
  const small = (v: unknown) => {
    if (!Number.isInteger(v) || (v as number) < 0) throw new Error('bad integer');
    return v as number;
  };
  return {
    seqnum: seqnumOf(o.seqnum),
    roothash: hexOf(o.roothash, 32),
    checkstring: hexOf(o.checkstring),
    k: small(o.k),
    n: small(o.n),
    shareSize: small(o.shareSize),
    shares: shares as Record<string, number[]>,
  };
}

function parseDataEntry(raw: Bytes): CachedData {
  if (raw.length < 4) throw new Error('truncated data entry');
  const headerLength = new DataView(raw.buffer, raw.byteOffset, raw.byteLength).getUint32(0);
  if (4 + headerLength > raw.length) throw new Error('truncated data entry');
  const o = json(raw.subarray(4, 4 + headerLength));
  const plaintext = new Uint8Array(raw.subarray(4 + headerLength));
  if (!equalBytes(digest(plaintext), hexOf(o.sha256, 32))) throw new Error('checksum mismatch');
  return { seqnum: seqnumOf(o.seqnum), roothash: hexOf(o.roothash, 32), plaintext };
}
