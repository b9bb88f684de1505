// The mutable-file client: create, retrieve, update and modify small mutable files on a
// grid, verified end to end. The LevelDB cache makes the common cases cheap — an update
// with a warm cache is one round trip, an unchanged read fetches no share data — while
// the grid stays the authority: every cached fact is re-checked by the test in the
// test-and-write or by the version the servers report.
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { aesCtr } from '../crypto/aes.js';
import { generateRsaKeyPair, keyPairFromPrivateKey, type RsaKeyPair } from '../crypto/rsa.js';
import { toBase32 } from '../encoding/base32.js';
import { equalBytes, toHex } from '../encoding/bytes.js';
import {
  formatCap,
  parseCap,
  requireReadCap,
  requireWriteCap,
  writeCapFromKeyPair,
  type MutableReadCap,
  type MutableWriteCap,
} from '../caps/index.js';
import type { ClientCache, ServermapHint } from '../cache/client-cache.js';
import { OperationCost, type OperationCostReport } from '../grid/request-events.js';
import type { StorageClient } from '../grid/storage-client.js';
import { CHECKSTRING_SIZE, MAX_SDMF_FILE_SIZE } from '../sdmf/layout.js';
import { SdmfParameterError } from '../sdmf/errors.js';
import { checkEncodingParameters } from '../sdmf/build.js';
import { fileContext, type FileContext } from './context.js';
import {
  PrivateKeyUnavailableError,
  ReadOnlyCapError,
  RollbackError,
  TooManyCollisionsError,
  UncoordinatedWriteError,
  UnrecoverableFileError,
  NotEnoughServersError,
} from './errors.js';
import { checkPrivateKey, updateServermap, type MapUpdateResult } from './map-update.js';
import { publishVersion, type ExpectedShares, type PublishResult } from './publish.js';
import { retrieveVersion } from './retrieve.js';
import type { Servermap } from './servermap.js';

export interface MutableClientOptions {
  servers: readonly StorageClient[];
  /** The client's 32-byte lease secret (random, created once per client). */
  leaseSecret: Uint8Array;
  cache?: ClientCache;
  /** Source of new RSA keys (a KeyPool); by default one is generated per file. */
  keys?: { take(): Promise<RsaKeyPair> };
  /** Encoding of new files: any k of N shares recover a file. Default 3 of 10. */
  k?: number;
  N?: number;
  /** Readers ask k+ε servers before choosing a version (rollback defence). Default 2. */
  epsilon?: number;
  /** Distinct shares a publish must place to succeed. Default 7 (Tahoe's), at most N. */
  happy?: number;
  /** Bytes of each share read in the first request. Default 128 KiB. */
  readSize?: number;
  /** modify(): attempts before giving up, and the first back-off delay. */
  modifyAttempts?: number;
  backoffMs?: number;
}

/** Identity of one published version. */
export interface VersionId {
  seqnum: number;
  rootHash: Uint8Array;
}

export interface OperationResult {
  seqnum: number;
  /** The version now current (read, or just published). */
  version: VersionId;
  cost: OperationCostReport;
}
export interface CreateResult extends OperationResult {
  cap: string;
}
export interface RetrieveResult extends OperationResult {
  plaintext: Uint8Array;
  /** True when the plaintext came from the cache after the servers confirmed the version. */
  fromCache: boolean;
}
export interface ModifyResult extends RetrieveResult {
  attempts: number;
}

export interface UpdateOptions {
  /**
   * The version the new contents were based on. If the grid's current version is another
   * one, nothing is overwritten and UncoordinatedWriteError is thrown (the caller decides,
   * e.g. by saving a conflict copy). Without it, update overwrites whatever is newest.
   */
  basedOn?: VersionId;
}

export interface CreateOptions {
  k?: number;
  N?: number;
  /** Make a directory cap (URI:DIR2:…) instead of a file cap. */
  directory?: boolean;
}

/** What to do with the old contents; return them unchanged to publish nothing. */
export type Modifier = (old: Uint8Array) => Uint8Array | Promise<Uint8Array>;

interface ReadState {
  ctx: FileContext;
  map?: Servermap;
  plaintext: Uint8Array;
  seqnum: number;
  version: VersionId;
  fromCache: boolean;
}

const DEFAULTS = { k: 3, N: 10, epsilon: 2, happy: 7, readSize: 128 * 1024 };

export class MutableClient {
  readonly k: number;
  readonly N: number;
  readonly epsilon: number;
  readonly happy: number;
  readonly readSize: number;
  private readonly servers: readonly StorageClient[];
  private readonly byId: Map<string, StorageClient>;
  private readonly cache?: ClientCache;

  constructor(private readonly options: MutableClientOptions) {
    this.k = options.k ?? DEFAULTS.k;
    this.N = options.N ?? DEFAULTS.N;
    checkEncodingParameters(this.k, this.N);
    this.epsilon = options.epsilon ?? DEFAULTS.epsilon;
    this.happy = options.happy ?? DEFAULTS.happy;
    this.readSize = Math.max(options.readSize ?? DEFAULTS.readSize, 1024);
    if (options.leaseSecret.length !== 32) throw new RangeError('leaseSecret must be 32 bytes');
    this.servers = options.servers;
    this.byId = new Map(options.servers.map((s) => [toBase32(s.serverId), s]));
    this.cache = options.cache;
  }

  /** Asks every server for its version document, so later operations know the extensions. */
  async connect(): Promise<void> {
    await Promise.allSettled(this.servers.map((s) => s.getVersion()));
  }

  // ---- create ----

  async create(plaintext: Uint8Array, options: CreateOptions = {}): Promise<CreateResult> {
    const k = options.k ?? this.k;
    const N = options.N ?? this.N;
    checkEncodingParameters(k, N);
    checkFileSize(plaintext.length);
    return this.measure(async () => {
      const keys = await (this.options.keys?.take() ?? generateRsaKeyPair());
      const cap = writeCapFromKeyPair(keys, { directory: options.directory ?? false });
      const ctx = this.context(cap);
      const result = await publishVersion({
        ctx,
        keys,
        plaintext,
        seqnum: 1,
        k,
        N,
        expected: new Map(),
        happy: this.happy,
      });
      await this.remember(ctx, result, plaintext, keys);
      return { cap: formatCap(cap), seqnum: 1, version: versionOf(result) };
    });
  }

  // ---- retrieve ----

  async retrieve(capText: string): Promise<RetrieveResult> {
    const cap = parseCap(capText);
    if (cap.kind === 'literal') {
      return this.measure(async () => ({
        plaintext: cap.data.slice(),
        seqnum: 0,
        version: { seqnum: 0, rootHash: new Uint8Array(32) },
        fromCache: false,
      }));
    }
    const readable = requireReadCap(cap);
    return this.measure(async () => {
      const state = await this.read(this.context(readable), false);
      return {
        plaintext: state.plaintext,
        seqnum: state.seqnum,
        version: state.version,
        fromCache: state.fromCache,
      };
    });
  }

  // ---- update (overwrite) ----

  async update(
    capText: string,
    plaintext: Uint8Array,
    options: UpdateOptions = {},
  ): Promise<OperationResult> {
    const cap = this.writeCap(capText, 'update');
    checkFileSize(plaintext.length);
    return this.measure(async () => {
      const ctx = this.context(cap);
      const warm = await this.warmPublish(ctx, plaintext, options.basedOn);
      if (warm) return { seqnum: warm.version.seqnum, version: versionOf(warm) };
      // Cold, or the cached view was stale: look at the grid, then overwrite what is there
      // (or, with basedOn, only the version the caller started from).
      const { map, privateKey } = await this.writerMap(ctx);
      if (options.basedOn) {
        const best = map.bestRecoverable();
        if (!best || !sameVersion(best, options.basedOn)) {
          throw new UncoordinatedWriteError(
            ctx.siText,
            (best?.shares ?? []).map((r) => ({
              server: r.server.name,
              shareNumber: r.shareNumber,
              seqnum: r.prefix.seqnum,
              rootHashHex: toHex(r.prefix.rootHash),
            })),
            options.basedOn.seqnum + 1,
          );
        }
      }
      const result = await this.publishOver(ctx, map, privateKey, plaintext);
      return { seqnum: result.version.seqnum, version: versionOf(result) };
    });
  }

  // ---- modify (read, change, write; again on collision) ----

  async modify(capText: string, modifier: Modifier): Promise<ModifyResult> {
    const cap = this.writeCap(capText, 'modify');
    const attempts = this.options.modifyAttempts ?? 8;
    let delay = this.options.backoffMs ?? 25;
    return this.measure(async () => {
      const ctx = this.context(cap);
      let lastError: unknown;
      for (let attempt = 1; attempt <= attempts; attempt++) {
        try {
          // First try from the cached plaintext: if the grid still holds that version, the
          // test-and-write proves it and the whole modify is one round trip.
          if (attempt === 1) {
            const cached = await this.cachedState(ctx);
            if (cached) {
              const next = await modifier(cached.plaintext);
              checkFileSize(next.length);
              if (equalBytes(next, cached.plaintext)) {
                return {
                  plaintext: next,
                  seqnum: cached.seqnum,
                  version: cached.version,
                  fromCache: true,
                  attempts: attempt,
                };
              }
              const warm = await this.warmPublish(ctx, next);
              if (warm) {
                return {
                  plaintext: next,
                  seqnum: warm.version.seqnum,
                  version: versionOf(warm),
                  fromCache: true,
                  attempts: attempt,
                };
              }
            }
          }
          const { map, privateKey } = await this.writerMap(ctx);
          const current = await this.readFromMap(ctx, map);
          const next = await modifier(current.plaintext);
          checkFileSize(next.length);
          if (equalBytes(next, current.plaintext) && attempt === 1 && current.seqnum > 0) {
            const { plaintext, seqnum, version, fromCache } = current;
            return { plaintext, seqnum, version, fromCache, attempts: attempt };
          }
          const result = await this.publishOver(ctx, map, privateKey, next);
          return {
            plaintext: next,
            seqnum: result.version.seqnum,
            version: versionOf(result),
            fromCache: false,
            attempts: attempt,
          };
        } catch (err) {
          if (!(err instanceof UncoordinatedWriteError)) throw err;
          lastError = err;
          await this.cache?.forgetServermapHint(ctx.keys.storageIndex);
          // Randomised exponential back-off, so colliding writers stop colliding.
          await sleep(delay * (0.5 + Math.random()));
          delay *= 2;
        }
      }
      throw new TooManyCollisionsError(ctx.siText, attempts, lastError);
    });
  }

  // ---- internals ----

  private writeCap(capText: string, what: string): MutableWriteCap {
    const cap = parseCap(capText);
    if (cap.kind === 'ssk-read' || cap.kind === 'ssk-verify') throw new ReadOnlyCapError(what);
    return requireWriteCap(cap);
  }

  private context(cap: MutableWriteCap | MutableReadCap): FileContext {
    return fileContext(
      {
        fingerprint: cap.fingerprint,
        storageIndex: cap.storageIndex,
        readkey: cap.readkey,
        writekey: cap.kind === 'ssk-write' ? cap.writekey : undefined,
      },
      this.servers,
      this.options.leaseSecret,
    );
  }

  private async measure<T extends object>(
    fn: () => Promise<T>,
  ): Promise<T & { cost: OperationCostReport }> {
    const cost = new OperationCost();
    const result = await cost.run(fn);
    return { ...result, cost: cost.report() };
  }

  /** The hinted servers, in permuted order, with their share numbers. */
  private hinted(ctx: FileContext, hint: ServermapHint): Map<StorageClient, number[]> {
    const out = new Map<StorageClient, number[]>();
    for (const server of ctx.permuted) {
      const numbers = hint.shares[toBase32(server.serverId)];
      if (numbers?.length) out.set(server, numbers);
    }
    return out;
  }

  private async read(ctx: FileContext, asWriter: boolean): Promise<ReadState> {
    const cached = await this.confirmCached(ctx);
    if (cached) return cached;
    const hint = await this.cache?.servermapHint(ctx.keys.storageIndex);
    const known = await this.cache?.highestVersion(ctx.keys.storageIndex);
    const update = await updateServermap(ctx, {
      mode: asWriter ? 'write' : 'read',
      readSize: Math.max(hint?.shareSize ?? 0, this.readSize),
      epsilon: this.epsilon,
      k: hint?.k ?? this.k,
      N: hint?.n ?? this.N,
      wantPrivateKey: false,
      hintedShares: hint ? new Map(Object.entries(hint.shares)) : undefined,
      minimumSeqnum: known?.seqnum,
    });
    return this.readFromMap(ctx, update.map);
  }

  /** Decodes the best version in `map`, enforcing the rollback guard; records it. */
  private async readFromMap(ctx: FileContext, map: Servermap): Promise<ReadState> {
    const si = ctx.keys.storageIndex;
    const best = map.bestRecoverable();
    const known = await this.cache?.highestVersion(si);
    if (!best) {
      if (map.records.length === 0 && map.bad.length === 0 && map.answeredCount > 0 && !known) {
        throw new UnrecoverableFileError(
          ctx.siText,
          'no server holds any share of this file',
          map.outcomes(),
        );
      }
      throw new UnrecoverableFileError(
        ctx.siText,
        `no version has enough valid shares (${map.describeVersions()})`,
        map.outcomes(),
      );
    }
    if (known && best.seqnum < known.seqnum) {
      const servers = [...new Set(best.shares.map((r) => r.server.name))];
      throw new RollbackError(ctx.siText, known.seqnum, best.seqnum, servers);
    }
    const got = await retrieveVersion(ctx, map, best);
    const version = { seqnum: got.version.seqnum, roothash: got.version.rootHash };
    await this.cache?.recordVerifiedVersion(si, version);
    await this.cache?.putData(si, version, got.plaintext);
    await this.saveHint(ctx, map, best.versionKey, got.version.checkstring, best.k, best.N);
    return {
      ctx,
      map,
      plaintext: got.plaintext,
      seqnum: got.version.seqnum,
      version: { seqnum: got.version.seqnum, rootHash: got.version.rootHash },
      fromCache: false,
    };
  }

  private async saveHint(
    ctx: FileContext,
    map: Servermap,
    versionKey: string,
    checkstring: Uint8Array,
    k: number,
    n: number,
  ): Promise<void> {
    if (!this.cache) return;
    const records = map.records.filter((r) => r.versionKey === versionKey);
    const shares: Record<string, number[]> = {};
    for (const r of records) (shares[toBase32(r.server.serverId)] ??= []).push(r.shareNumber);
    const first = records[0];
    await this.cache.putServermapHint(ctx.keys.storageIndex, {
      seqnum: first.prefix.seqnum,
      roothash: first.prefix.rootHash,
      checkstring,
      k,
      n,
      shareSize: first.prefix.offsets.eof,
      shares,
    });
  }

  /**
   * The cached plaintext, if the servers that held it still report exactly that version:
   * one round trip reading 57 bytes from each of k+ε hinted servers.
   */
  private async confirmCached(ctx: FileContext): Promise<ReadState | undefined> {
    const state = await this.cachedState(ctx);
    if (!state) return undefined;
    const hint = (await this.cache!.servermapHint(ctx.keys.storageIndex))!;
    const targets = [...this.hinted(ctx, hint)];
    const want = Math.min(hint.k + this.epsilon, targets.length);
    if (want < Math.min(hint.k + this.epsilon, this.servers.length)) return undefined;
    const answers = await Promise.all(
      targets.slice(0, want).map(async ([server, numbers]) => {
        try {
          const bytes = await server.readShare(
            ctx.keys.storageIndex,
            numbers[0],
            0,
            CHECKSTRING_SIZE,
          );
          return bytes !== null && equalBytes(bytes, hint.checkstring);
        } catch {
          return false;
        }
      }),
    );
    return answers.every(Boolean) ? { ...state, fromCache: true } : undefined;
  }

  /** Cached plaintext and hint that agree with each other and with the rollback guard. */
  private async cachedState(ctx: FileContext): Promise<ReadState | undefined> {
    if (!this.cache) return undefined;
    const si = ctx.keys.storageIndex;
    const [data, hint, known] = await Promise.all([
      this.cache.cachedData(si),
      this.cache.servermapHint(si),
      this.cache.highestVersion(si),
    ]);
    if (!data || !hint || !known) return undefined;
    if (data.seqnum !== hint.seqnum || !equalBytes(data.roothash, hint.roothash)) return undefined;
    if (known.seqnum > data.seqnum) return undefined;
    return {
      ctx,
      plaintext: data.plaintext,
      seqnum: data.seqnum,
      version: { seqnum: data.seqnum, rootHash: data.roothash },
      fromCache: true,
    };
  }

  /** The private key from the cache, checked against the writekey. */
  private async cachedPrivateKey(ctx: FileContext): Promise<RsaKeyPair | undefined> {
    const encrypted = await this.cache?.encryptedPrivateKey(ctx.keys.storageIndex);
    const der = encrypted && checkPrivateKey(ctx, encrypted);
    return der ? keyPairFromPrivateKey(der) : undefined;
  }

  /**
   * One round trip: write straight to the servers of the cached servermap, each share
   * tested against the checkstring this client last saw. Undefined when there is no warm
   * state or the grid no longer matches it (the caller then does the full path).
   */
  private async warmPublish(
    ctx: FileContext,
    plaintext: Uint8Array,
    basedOn?: VersionId,
  ): Promise<PublishResult | undefined> {
    if (!this.cache) return undefined;
    const si = ctx.keys.storageIndex;
    const [hint, keys, known] = await Promise.all([
      this.cache.servermapHint(si),
      this.cachedPrivateKey(ctx),
      this.cache.highestVersion(si),
    ]);
    if (!hint || !keys) return undefined;
    // The cached view must be the version the caller edited, or the test proves nothing.
    if (
      basedOn &&
      !(hint.seqnum === basedOn.seqnum && equalBytes(hint.roothash, basedOn.rootHash))
    ) {
      return undefined;
    }
    const expected: ExpectedShares = new Map();
    for (const [server, numbers] of this.hinted(ctx, hint)) {
      expected.set(server, new Map(numbers.map((n) => [n, hint.checkstring])));
    }
    if (expected.size === 0) return undefined;
    try {
      const result = await publishVersion({
        ctx,
        keys,
        plaintext,
        seqnum: Math.max(hint.seqnum, known?.seqnum ?? 0) + 1,
        k: hint.k,
        N: hint.n,
        expected,
        servers: [...expected.keys()],
        happy: this.happy,
      });
      await this.remember(ctx, result, plaintext, keys);
      return result;
    } catch (err) {
      if (err instanceof UncoordinatedWriteError || err instanceof NotEnoughServersError) {
        await this.cache.forgetServermapHint(si);
        return undefined;
      }
      throw err;
    }
  }

  /** A writer's servermap (all shares of every server, one request each) and the key. */
  private async writerMap(ctx: FileContext): Promise<MapUpdateResult & { privateKey: Uint8Array }> {
    const si = ctx.keys.storageIndex;
    const cachedKey = await this.cachedPrivateKey(ctx);
    const hint = await this.cache?.servermapHint(si);
    const known = await this.cache?.highestVersion(si);
    const update = await updateServermap(ctx, {
      mode: 'write',
      readSize: Math.max(hint?.shareSize ?? 0, this.readSize),
      epsilon: this.epsilon,
      k: hint?.k ?? this.k,
      N: hint?.n ?? this.N,
      wantPrivateKey: !cachedKey,
      minimumSeqnum: known?.seqnum,
    });
    const privateKey = cachedKey?.privateKeyDer ?? update.privateKey;
    if (!privateKey) {
      if (update.map.records.length === 0) {
        throw new UnrecoverableFileError(
          ctx.siText,
          'no server holds a share of this file, so there is nothing to update',
          update.map.outcomes(),
        );
      }
      throw new PrivateKeyUnavailableError(
        ctx.siText,
        `none of the ${update.map.records.length} shares found carried a usable encrypted private key`,
      );
    }
    if (update.encryptedPrivateKey) {
      await this.cache?.putEncryptedPrivateKey(si, update.encryptedPrivateKey);
    }
    return { ...update, privateKey };
  }

  /** Publishes `plaintext` over every share in `map`, with seqnum = highest seen + 1. */
  private async publishOver(
    ctx: FileContext,
    map: Servermap,
    privateKey: Uint8Array,
    plaintext: Uint8Array,
  ): Promise<PublishResult> {
    const known = await this.cache?.highestVersion(ctx.keys.storageIndex);
    const best = map.bestRecoverable() ?? map.versions()[0];
    const expected: ExpectedShares = new Map();
    for (const r of map.records) {
      const m = expected.get(r.server) ?? new Map<number, Uint8Array>();
      m.set(r.shareNumber, r.bytes.slice(0, CHECKSTRING_SIZE));
      expected.set(r.server, m);
    }
    for (const b of map.bad) {
      const m = expected.get(b.server) ?? new Map<number, Uint8Array>();
      m.set(b.shareNumber, b.checkstring);
      expected.set(b.server, m);
    }
    const failed = new Set(ctx.permuted.filter((s) => map.isFailed(s)));
    const keys = keyPairFromPrivateKey(privateKey);
    const result = await publishVersion({
      ctx,
      keys,
      plaintext,
      seqnum: Math.max(map.highestSeqnum(), known?.seqnum ?? 0) + 1,
      k: best?.k ?? this.k,
      N: best?.N ?? this.N,
      expected,
      happy: this.happy,
      exclude: failed,
    });
    await this.remember(ctx, result, plaintext, keys);
    return result;
  }

  /** After a successful publish: the version, the key, where the shares are, the data. */
  private async remember(
    ctx: FileContext,
    result: PublishResult,
    plaintext: Uint8Array,
    keys: RsaKeyPair,
  ): Promise<void> {
    if (!this.cache) return;
    const si = ctx.keys.storageIndex;
    const v = result.version;
    const shares: Record<string, number[]> = {};
    for (const [server, numbers] of result.placed) shares[toBase32(server.serverId)] = [...numbers];
    const version = { seqnum: v.seqnum, roothash: v.rootHash };
    await this.cache.recordVerifiedVersion(si, version);
    await this.cache.putServermapHint(si, {
      seqnum: v.seqnum,
      roothash: v.rootHash,
      checkstring: v.checkstring,
      k: v.k,
      n: v.N,
      shareSize: v.shares[0].length,
      shares,
    });
    await this.cache.putData(si, version, plaintext);
    if (!(await this.cache.encryptedPrivateKey(si))) {
      await this.cache.putEncryptedPrivateKey(si, aesCtr(ctx.keys.writekey!, keys.privateKeyDer));
    }
  }
}

/** A new random 32-byte lease secret (created once per client and kept). */
export function newLeaseSecret(): Uint8Array {
  return new Uint8Array(randomBytes(32));
}

/** Refuses a file beyond the SDMF maximum before any key is taken or byte is sent. */
function checkFileSize(length: number): void {
  if (length > MAX_SDMF_FILE_SIZE) {
    throw new SdmfParameterError(
      'ERR_SDMF_FILE_TOO_LARGE',
      `file is ${length} bytes; slotfs stores at most ${MAX_SDMF_FILE_SIZE} bytes (64 MiB) as one mutable file`,
    );
  }
}

function versionOf(result: PublishResult): VersionId {
  return { seqnum: result.version.seqnum, rootHash: result.version.rootHash };
}

function sameVersion(a: { seqnum: number; rootHash: Uint8Array }, b: VersionId): boolean {
  return a.seqnum === b.seqnum && equalBytes(a.rootHash, b.rootHash);
}
