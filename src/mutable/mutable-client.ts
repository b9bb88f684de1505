// The mutable-file client: create, retrieve, update and modify small mutable files on a
// grid, verified end to end. The LevelDB cache makes the common cases cheap — an update
// with a warm cache is one round trip, an unchanged read fetches no share data — while
// the grid stays the authority: every cached fact is re-checked by the test in the
// test-and-write or by the version the servers report.
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { aesCtr } from '../crypto/aes.js';
import { generateRsaKeyPair, keyPairFromPrivateKey, type RsaKeyPair } from '../crypto/rsa.js';
import { ed25519KeyPairFromSeed, generateEd25519KeyPair } from '../crypto/ed25519.js';
import { toBase32 } from '../encoding/base32.js';
import { equalBytes, toHex } from '../encoding/bytes.js';
import {
  formatCap,
  parseCap,
  requireReadCap,
  requireWriteCap,
  writeCapFromKeyPair,
  writeCapFromSeed,
  type MutableReadCap,
  type MutableWriteCap,
} from '../caps/index.js';
import type {
  CachedData,
  ClientCache,
  ServermapHint,
  VersionRecord,
} from '../cache/client-cache.js';
import { OperationCost, type OperationCostReport } from '../grid/request-events.js';
import type { StorageClient } from '../grid/storage-client.js';
import type { ServerHealth } from '../grid/server-health.js';
import { CHECKSTRING_SIZE, MAX_SDMF_FILE_SIZE } from '../sdmf/layout.js';
import { SdmfParameterError } from '../sdmf/errors.js';
import { checkEncodingParameters, isEd25519Keys, type SigningKeys } from '../sdmf/build.js';
import { fileContext, type FileContext } from './context.js';
import {
  PrivateKeyUnavailableError,
  MdmfUnsupportedError,
  ReadOnlyCapError,
  RecoveryFailedError,
  RollbackError,
  TooManyCollisionsError,
  UncoordinatedWriteError,
  UnrecoverableFileError,
  NotEnoughServersError,
} from './errors.js';
import {
  checkPrivateKey,
  updateServermap,
  type MapUpdateOptions,
  type MapUpdateResult,
} from './map-update.js';
import {
  publishVersion,
  versionKeyOf,
  type ExpectedShares,
  type PublishResult,
} from './publish.js';
import type { BuiltVersion } from '../sdmf/build.js';
import {
  baseCandidates,
  fullyPlaced,
  orderCandidates,
  type Candidate,
  type OwnVersion,
} from './recovery.js';
import { readImmutable } from '../immutable/index.js';
import { publishMdmf } from './mdmf-publish.js';
import { retrieveMdmf } from './mdmf-retrieve.js';
import { retrieveVersion } from './retrieve.js';
import type { Servermap } from './servermap.js';

/**
 * The format of new files and directories: 'ed25519' (slotfs's own, docs/formats.md: a
 * key costs ~0.1 ms) or 'tahoe' (Tahoe-LAFS's RSA-2048 SDMF, which a Tahoe client can
 * read). Existing files keep the format of their cap.
 */
export type FileFormat = 'ed25519' | 'tahoe';
export const FILE_FORMATS: readonly FileFormat[] = ['ed25519', 'tahoe'];

export interface MutableClientOptions {
  servers: readonly StorageClient[];
  /** Format of new files (create). Default 'ed25519'. */
  format?: FileFormat;
  /** The client's 32-byte lease secret (random, created once per client). */
  leaseSecret: Uint8Array;
  cache?: ClientCache;
  /** Source of new RSA keys for 'tahoe' files (a KeyPool); by default one is generated per file. */
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
  /** modify(): attempts before giving up (default 10), and the first back-off delay (25 ms). */
  modifyAttempts?: number;
  backoffMs?: number;
  /**
   * The home server (base32 node id or name): it keeps an extra copy of a share (the N+1th)
   * so the encrypted private key stays reachable there, and the key is read from it first.
   * Default: the first server in each file's permuted list that answers.
   */
  homeServer?: string;
  /**
   * Colliding-write recovery retries with exponential back-off while servers are missing
   * or writers keep colliding, and gives up (RecoveryFailedError) after this long.
   * Default 30 s.
   */
  recoveryTimeoutMs?: number;
  /**
   * A read that finds shares but no version with k of them (a writer part-way through a
   * publish) looks again, with growing pauses, for up to this long (ms). Default 3 s.
   */
  incompleteWaitMs?: number;
  /**
   * Remembers servers that failed to answer, so that later operations plan around them
   * for a growing back-off instead of waiting for them again. The client watches
   * `servers` through it (wrappers: compare servers by name, not identity).
   */
  health?: ServerHealth;
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
/** A file whose cached contents the servers confirmed (confirmMany). */
export interface ConfirmedFile {
  plaintext: Uint8Array;
  seqnum: number;
  version: VersionId;
}
export interface ModifyResult extends RetrieveResult {
  attempts: number;
}
export interface RecoverResult extends RetrieveResult {
  /** False when the grid already held N shares of one newest version. */
  pushed: boolean;
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
  /** Make a directory cap (URI:DIR2…) instead of a file cap. */
  directory?: boolean;
  /** The format of this file; default the client's (`format` option). */
  format?: FileFormat;
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
  /** The version read, as a recovery candidate (when read from a servermap). */
  candidate?: Candidate;
}

/** What a one-round-trip publish from the cache came to. */
type WarmOutcome =
  | { result: PublishResult }
  | { collision: UncoordinatedWriteError; k: number; N: number }
  | undefined;

/** What update() passes down so that its own earlier attempts are not taken for others'. */
interface OwnAttempts {
  ours: ReadonlySet<string>;
  onBuilt: (version: BuiltVersion) => Promise<void>;
}

/** Storage indexes whose failed attempts are remembered (the oldest are forgotten). */
const MAX_ATTEMPT_FILES = 10_000;

/** Reads per read-many request (the protocol allows 4,096). */
const READ_MANY_BATCH = 2048;

/** Back-off delays double up to this (randomised ×0.5…1.5). */
const MAX_BACKOFF_MS = 2000;
/** A read finding only incomplete versions first looks again after this long (ms), then 2×, 4×… */
const INCOMPLETE_FIRST_WAIT_MS = 100;

/** The last look's error, saying how long the read kept looking. */
function withAttempts(err: Error, looks: number, ms: number): Error {
  if (looks > 1)
    err.message += ` Looked ${looks} times over ${(ms / 1000).toFixed(1)} s: a writer that stopped part-way leaves no readable version until it (or another writer) publishes again.`;
  return err;
}

const DEFAULTS = { k: 3, N: 10, epsilon: 2, happy: 7, readSize: 128 * 1024 };

export class MutableClient {
  readonly k: number;
  readonly N: number;
  readonly epsilon: number;
  readonly happy: number;
  readonly readSize: number;
  /** Format of new files. */
  readonly format: FileFormat;
  private readonly servers: readonly StorageClient[];
  private readonly byId: Map<string, StorageClient>;
  private readonly cache?: ClientCache;
  private readonly health?: ServerHealth;
  /** The configured home server, if any. */
  readonly home?: StorageClient;
  /**
   * Per storage index (hex), the versions update() built and sent whose publish failed or
   * is under way — a timed-out attempt can still land later — each with the key of the
   * version it was based on ('' for none). A successful update leaves only itself.
   */
  private readonly attempts = new Map<string, Map<string, string>>();

  constructor(private readonly options: MutableClientOptions) {
    this.k = options.k ?? DEFAULTS.k;
    this.N = options.N ?? DEFAULTS.N;
    checkEncodingParameters(this.k, this.N);
    this.format = options.format ?? 'ed25519';
    if (!FILE_FORMATS.includes(this.format)) {
      throw new RangeError(`format must be "ed25519" or "tahoe", got ${String(this.format)}`);
    }
    this.epsilon = options.epsilon ?? DEFAULTS.epsilon;
    this.happy = options.happy ?? DEFAULTS.happy;
    this.readSize = Math.max(options.readSize ?? DEFAULTS.readSize, 1024);
    if (options.leaseSecret.length !== 32) throw new RangeError('leaseSecret must be 32 bytes');
    this.health = options.health;
    this.servers = this.health
      ? options.servers.map((s) => this.health!.watch(s))
      : options.servers;
    this.byId = new Map(options.servers.map((s) => [toBase32(s.serverId), s]));
    this.cache = options.cache;
    if (options.homeServer !== undefined) {
      this.home =
        this.byId.get(options.homeServer) ??
        options.servers.find((s) => s.name === options.homeServer);
      if (!this.home) {
        throw new RangeError(
          `home server ${options.homeServer} is not among the ${options.servers.length} configured servers (give its base32 node id or name)`,
        );
      }
    }
  }

  /** Asks every server for its version document, so later operations know the extensions. */
  async connect(): Promise<void> {
    await Promise.allSettled(this.servers.map((s) => s.getVersion()));
  }

  // ---- create ----

  /**
   * The write cap of a new Ed25519 file or directory, made here without the grid: nothing
   * exists until createAs() publishes its first version. (The mount answers mkdir with it
   * and creates the folder in the background.)
   */
  newEd25519Cap(options: { directory?: boolean } = {}): string {
    const { seed } = generateEd25519KeyPair();
    return formatCap(writeCapFromSeed(seed, { directory: options.directory ?? false }));
  }

  /**
   * Publishes the first version (seqnum 1) of a file whose Ed25519 write cap newEd25519Cap
   * made. Fails like a colliding write if that file exists already.
   */
  async createAs(
    capText: string,
    plaintext: Uint8Array,
    options: Omit<CreateOptions, 'format' | 'directory'> = {},
  ): Promise<CreateResult> {
    const cap = parseCap(capText);
    if (cap.kind !== 'ssk-write' || cap.format !== 'ed25519' || !cap.seed) {
      throw new TypeError('createAs() takes the write cap of an Ed25519 file or directory');
    }
    const seed = cap.seed;
    return this.createWith(plaintext, options, false, () => [ed25519KeyPairFromSeed(seed), cap]);
  }

  async create(plaintext: Uint8Array, options: CreateOptions = {}): Promise<CreateResult> {
    const directory = options.directory ?? false;
    // The key is made here, so the cache cannot know the file yet.
    return this.createWith(plaintext, options, true, async () => {
      if ((options.format ?? this.format) === 'ed25519') {
        // The write cap is the signing key: no key pool, no encrypted key in the shares.
        const pair = generateEd25519KeyPair();
        return [pair, writeCapFromSeed(pair.seed, { directory })];
      }
      const pair = await (this.options.keys?.take() ?? generateRsaKeyPair());
      return [pair, writeCapFromKeyPair(pair, { directory })];
    });
  }

  private async createWith(
    plaintext: Uint8Array,
    options: Pick<CreateOptions, 'k' | 'N'>,
    freshKey: boolean,
    keyed: () => [SigningKeys, MutableWriteCap] | Promise<[SigningKeys, MutableWriteCap]>,
  ): Promise<CreateResult> {
    const k = options.k ?? this.k;
    const N = options.N ?? this.N;
    checkEncodingParameters(k, N);
    checkFileSize(plaintext.length);
    return this.measure(async () => {
      const [keys, cap] = await keyed();
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
        home: this.home,
        exclude: this.awayServers(ctx, N),
      });
      await this.remember(ctx, result, plaintext, keys, freshKey);
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
    if (cap.kind === 'immutable') {
      return this.measure(async () => ({
        plaintext: (
          await readImmutable(cap, this.servers, {
            away: this.health && ((s) => this.health!.isAway(s)),
          })
        ).plaintext,
        seqnum: 0,
        version: { seqnum: 0, rootHash: new Uint8Array(32) },
        fromCache: false,
      }));
    }
    const readable = requireReadCap(cap);
    if (readable.format === 'mdmf') {
      return this.measure(async () => {
        const { plaintext, seqnum, version } = await retrieveMdmf(this.context(readable));
        return { plaintext, seqnum, version, fromCache: false };
      });
    }
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

  // ---- close-to-open checks of many files ----

  /**
   * The cached-retrieve test for many files at once: for each cap whose contents this
   * client has cached, the checkstring of one share on each of k+ε servers that held that
   * version must still be the cached one — as retrieve() asks, but with one read-many
   * request per server for all the files instead of k+ε requests per file. Returns the
   * contents of the files the servers confirmed; the others (not cached, changed, or on
   * servers without read-many) are left to retrieve().
   */
  async confirmMany(
    capTexts: readonly string[],
  ): Promise<{ confirmed: Map<string, ConfirmedFile>; cost: OperationCostReport }> {
    return this.measure(async () => {
      const confirmed = new Map<string, ConfirmedFile>();
      if (!this.cache) return { confirmed };
      // Per file: its cached state and the servers to ask; per server: what to read there.
      const files: Array<{ cap: string; state: ReadState; checkstring: Uint8Array; asks: number }> =
        [];
      const perServer = new Map<
        StorageClient,
        Array<{ file: number; ref: { storageIndex: Uint8Array; shareNumber: number } }>
      >();
      const checkable = capTexts.flatMap((capText) => {
        let cap;
        try {
          cap = parseCap(capText);
        } catch {
          return [];
        }
        if (cap.kind !== 'ssk-write' && cap.kind !== 'ssk-read') return [];
        if (cap.format === 'mdmf') return [];
        return [{ capText, ctx: this.context(cap) }];
      });
      // The cached states, read from LevelDB in one request per table.
      const records = await this.cache.recordsMany(checkable.map((c) => c.ctx.keys.storageIndex));
      for (const [i, { capText, ctx }] of checkable.entries()) {
        const { hint } = records[i];
        const state = stateFrom(ctx, records[i]);
        if (!state || !hint) continue;
        const targets = [...this.hinted(ctx, hint)];
        const want = Math.min(hint.k + this.epsilon, targets.length);
        if (want < Math.min(hint.k + this.epsilon, this.servers.length)) continue;
        const file = files.length;
        files.push({ cap: capText, state, checkstring: hint.checkstring, asks: want });
        for (const [server, numbers] of targets.slice(0, want)) {
          const list = perServer.get(server) ?? [];
          list.push({
            file,
            ref: { storageIndex: ctx.keys.storageIndex, shareNumber: numbers[0] },
          });
          perServer.set(server, list);
        }
      }
      const agreed = new Array<number>(files.length).fill(0);
      await Promise.all(
        [...perServer].map(async ([server, list]) => {
          if (!server.readMany) return;
          for (let at = 0; at < list.length; at += READ_MANY_BATCH) {
            const part = list.slice(at, at + READ_MANY_BATCH);
            let answers: Array<Uint8Array | null>;
            try {
              answers = await server.readMany!(
                part.map((p) => p.ref),
                CHECKSTRING_SIZE,
              );
            } catch {
              return; // unsupported or failing: those files are checked one by one
            }
            part.forEach((p, i) => {
              const got = answers[i];
              if (got && equalBytes(got, files[p.file].checkstring)) agreed[p.file]++;
            });
          }
        }),
      );
      files.forEach((f, i) => {
        if (agreed[i] !== f.asks) return;
        const { plaintext, seqnum, version } = f.state;
        confirmed.set(f.cap, { plaintext, seqnum, version });
      });
      return { confirmed };
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
    if (cap.format === 'mdmf') {
      return this.measure(async () => {
        const ctx = this.context(cap);
        const current = await retrieveMdmf(ctx);
        if (options.basedOn && !sameVersion(current.version, options.basedOn)) {
          throw new UncoordinatedWriteError(ctx.siText, [], options.basedOn.seqnum + 1);
        }
        const r = await publishMdmf(ctx, plaintext, current.view);
        return { seqnum: r.seqnum, version: { seqnum: r.seqnum, rootHash: r.rootHash } };
      });
    }
    return this.measure(async () => {
      const ctx = this.context(cap);
      const si = ctx.keys.storageIndex;
      const base = options.basedOn;
      const attempts = async (): Promise<OwnAttempts> => ({
        ours: await this.attemptsOn(si, base),
        onBuilt: (v) => this.noteAttempt(si, v, base),
      });
      const warm = await this.warmPublish(ctx, plaintext, base, await attempts());
      if (warm && 'result' in warm) {
        await this.settleAttempts(si, versionOf(warm.result), base);
        return { seqnum: warm.result.version.seqnum, version: versionOf(warm.result) };
      }
      // Some of our shares may be on the grid now: from here on, a collision is recovered.
      let own = warm ? ownVersion(plaintext, warm.collision, warm.k, warm.N) : undefined;
      let collision = warm?.collision;
      try {
        // Cold, or the cached view was stale: look at the grid, then overwrite what is
        // there (or, with basedOn, only the version the caller started from).
        const { map, signingKeys } = await this.writerMap(ctx, own ? 'check' : 'write');
        const best = map.bestRecoverable();
        const mine = await attempts();
        // Newest is one of our own earlier attempts at this change (it timed out, then
        // landed): what we are replacing is still the version we started from.
        const ours = best !== undefined && mine.ours.has(versionKeyOf(best));
        // No version recoverable because servers failed (a client cut off from the grid):
        // that is an outage, not another writer — the caller keeps its change and retries.
        if (options.basedOn && !best && !own && map.hasFailures()) {
          throw new NotEnoughServersError(
            `cannot update ${ctx.siText}: no version of it could be read from the servers that answered (${map.describeVersions()}); nothing was changed`,
            map.outcomes(),
          );
        }
        if (options.basedOn && (!best || !(sameVersion(best, options.basedOn) || ours))) {
          collision = new UncoordinatedWriteError(
            ctx.siText,
            (best?.shares ?? []).map((r) => ({
              server: r.server.name,
              shareNumber: r.shareNumber,
              seqnum: r.prefix.seqnum,
              rootHashHex: toHex(r.prefix.rootHash),
            })),
            options.basedOn.seqnum + 1,
          );
          if (!own) throw collision; // nothing of ours was written
        } else {
          const params = this.encodingOf(map);
          try {
            const result = await this.publishOver(ctx, map, signingKeys, plaintext, {
              ...params,
              ...mine,
            });
            await this.settleAttempts(si, versionOf(result), base);
            return { seqnum: result.version.seqnum, version: versionOf(result) };
          } catch (err) {
            if (!(err instanceof UncoordinatedWriteError)) throw err;
            collision = err;
            own = ownVersion(plaintext, err, params.k, params.N) ?? own;
          }
        }
      } catch (err) {
        if (!(err instanceof UncoordinatedWriteError) || !own) throw err;
      }
      // Colliding write: make the grid converge on one version (§11.6). If that is ours,
      // the update went through after all; otherwise the other writer won.
      const recovered = await this.recoverWith(ctx, own);
      // Ours, or another client pushed our bytes while recovering: the update stands.
      if (recovered.candidate?.own || equalBytes(recovered.plaintext, plaintext)) {
        return { seqnum: recovered.seqnum, version: recovered.version };
      }
      throw collision!;
    });
  }

  // ---- modify (read, change, write; again on collision) ----

  /**
   * Applies `modifier` to the newest version and publishes the result. When another writer
   * got there first, the grid is re-read (every server) and the modifier applied again to
   * what won, so no change is lost; the modifier may therefore run several times and must
   * be idempotent. Returns only once a version containing the change is safely placed.
   */
  async modify(capText: string, modifier: Modifier): Promise<ModifyResult> {
    const cap = this.writeCap(capText, 'modify');
    const attempts = this.options.modifyAttempts ?? 10;
    let delay = this.options.backoffMs ?? 25;
    if (cap.format === 'mdmf') return this.measure(() => this.modifyMdmf(cap, modifier));
    return this.measure(async () => {
      const ctx = this.context(cap);
      const started = performance.now();
      let own: OwnVersion | undefined;
      /** Seqnum of the version `next` (and so `own`) was built on. */
      let ownBase: number | undefined;
      let lastError: unknown;
      let lookedAgain = 0;
      for (let attempt = 1; attempt <= attempts; attempt++) {
        let next: Uint8Array | undefined;
        let nextBase: number | undefined;
        let params = { k: this.k, N: this.N };
        try {
          // First try from the cached plaintext: if the grid still holds that version, the
          // test-and-write proves it and the whole modify is one round trip.
          if (attempt === 1) {
            const cached = await this.cachedState(ctx);
            if (cached) {
              next = await modifier(cached.plaintext);
              nextBase = cached.seqnum;
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
              if (warm && 'result' in warm) {
                return {
                  plaintext: next,
                  seqnum: warm.result.version.seqnum,
                  version: versionOf(warm.result),
                  fromCache: true,
                  attempts: attempt,
                };
              }
              if (warm) {
                own = ownVersion(next, warm.collision, warm.k, warm.N);
                ownBase = cached.seqnum;
              }
            }
          }
          // After a collision every server is asked, and our own attempt is a candidate.
          const { map, signingKeys } = await this.writerMap(ctx, own ? 'check' : 'write');
          const { candidates, newerVisible } = baseCandidates(map, own, ownBase);
          if (newerVisible && lookedAgain < 2 && attempt < attempts) {
            // A newer version is on its way (or was abandoned): look again before building
            // on an older one, which could drop a change that is about to succeed.
            lookedAgain++;
            await sleep(delay * (0.5 + Math.random()));
            continue;
          }
          lookedAgain = 0;
          const base = await this.readFromMap(ctx, map, { candidates });
          next = await modifier(base.plaintext);
          nextBase = base.seqnum;
          checkFileSize(next.length);
          const summary = base.candidate?.summary;
          // Unchanged (our change is in already, e.g. in our own attempt that collided on
          // one server): return only if that version holds every share number — happiness
          // alone would leave the colliding server on an older version for good.
          if (
            equalBytes(next, base.plaintext) &&
            summary &&
            fullyPlaced(map, summary, this.required(summary.N))
          ) {
            const { plaintext, seqnum, version, fromCache } = base;
            return { plaintext, seqnum, version, fromCache, attempts: attempt };
          }
          // Unchanged but not fully placed (a collision left several versions, or cut a
          // publish short): publish it anyway so that the grid converges.
          params = base.candidate ?? params;
          const result = await this.publishOver(ctx, map, signingKeys, next, params);
          return {
            plaintext: next,
            seqnum: result.version.seqnum,
            version: versionOf(result),
            fromCache: false,
            attempts: attempt,
          };
        } catch (err) {
          if (err instanceof UncoordinatedWriteError) {
            const attempted = next && ownVersion(next, err, params.k, params.N);
            if (attempted) {
              own = attempted;
              ownBase = nextBase;
            }
          } else if (!(err instanceof NotEnoughServersError && own)) {
            throw err;
          } else if (performance.now() - started >= this.recoveryTimeoutMs) {
            // Servers stayed missing while a collision was being resolved.
            throw new RecoveryFailedError(
              ctx.siText,
              performance.now() - started,
              err.message,
              err.servers,
              err,
            );
          }
          lastError = err;
          await this.cache?.forgetServermapHint(ctx.keys.storageIndex);
          // Randomised exponential back-off, so colliding writers stop colliding.
          await sleep(delay * (0.5 + Math.random()));
          delay = Math.min(delay * 2, MAX_BACKOFF_MS);
        }
      }
      throw new TooManyCollisionsError(ctx.siText, attempts, lastError);
    });
  }

  /** modify() of an MDMF file: read, apply, publish; again (backing off) on a collision. */
  private async modifyMdmf(
    cap: MutableWriteCap,
    modifier: Modifier,
  ): Promise<Omit<ModifyResult, 'cost'>> {
    const ctx = this.context(cap);
    const attempts = this.options.modifyAttempts ?? 10;
    let delay = this.options.backoffMs ?? 25;
    let lastError: unknown;
    for (let attempt = 1; attempt <= attempts; attempt++) {
      const current = await retrieveMdmf(ctx);
      const next = await modifier(current.plaintext);
      checkFileSize(next.length);
      if (equalBytes(next, current.plaintext)) {
        const { plaintext, seqnum, version } = current;
        return { plaintext, seqnum, version, fromCache: false, attempts: attempt };
      }
      try {
        const r = await publishMdmf(ctx, next, current.view);
        const version = { seqnum: r.seqnum, rootHash: r.rootHash };
        return { plaintext: next, seqnum: r.seqnum, version, fromCache: false, attempts: attempt };
      } catch (err) {
        if (!(err instanceof UncoordinatedWriteError)) throw err;
        lastError = err;
        await sleep(delay * (0.5 + Math.random()));
        delay = Math.min(delay * 2, MAX_BACKOFF_MS);
      }
    }
    throw new TooManyCollisionsError(ctx.siText, attempts, lastError);
  }

  // ---- recover (make a mixed grid converge) ----

  /**
   * Colliding-write recovery (tahoe-formats.md §11.6): reads every server, orders the
   * recoverable versions (highest seqnum, then most shares), and republishes the first one
   * that can be read, with seqnum = max seen + 1, until all N shares are placed. Does
   * nothing when one newest version already has all N shares on enough servers.
   */
  async recover(capText: string): Promise<RecoverResult> {
    const cap = this.writeCap(capText, 'recover');
    if (cap.format === 'mdmf') throw new MdmfUnsupportedError('recover');
    return this.measure(async () => {
      const ctx = this.context(cap);
      const r = await this.recoverWith(ctx);
      return {
        plaintext: r.plaintext,
        seqnum: r.seqnum,
        version: r.version,
        fromCache: false,
        pushed: r.pushed,
      };
    });
  }

  // ---- internals ----

  private get recoveryTimeoutMs(): number {
    return this.options.recoveryTimeoutMs ?? 30_000;
  }

  /** Servers-of-happiness a publish must reach: happy, at most N and the grid's size. */
  private required(N: number): number {
    return Math.min(this.happy, N, this.servers.length);
  }

  /** k and N of the file as the map shows it (defaults for a file with no shares). */
  private encodingOf(map: Servermap): { k: number; N: number } {
    const best = map.bestRecoverable() ?? map.versions()[0];
    return { k: best?.k ?? this.k, N: best?.N ?? this.N };
  }

  /** The recovery loop behind recover(), update() and modify() after a collision. */
  private async recoverWith(
    ctx: FileContext,
    own?: OwnVersion,
  ): Promise<ReadState & { pushed: boolean }> {
    const started = performance.now();
    let delay = this.options.backoffMs ?? 25;
    let last: unknown;
    for (;;) {
      try {
        const { map, signingKeys } = await this.writerMap(ctx, 'check');
        const base = await this.readFromMap(ctx, map, { own });
        const summary = base.candidate?.summary;
        if (summary && fullyPlaced(map, summary, this.required(summary.N))) {
          return { ...base, pushed: false };
        }
        const result = await this.publishOver(ctx, map, signingKeys, base.plaintext, {
          k: base.candidate?.k ?? this.k,
          N: base.candidate?.N ?? this.N,
          requireAllShares: true,
        });
        return {
          ...base,
          seqnum: result.version.seqnum,
          version: versionOf(result),
          fromCache: false,
          pushed: true,
        };
      } catch (err) {
        const retry =
          err instanceof UncoordinatedWriteError ||
          err instanceof NotEnoughServersError ||
          err instanceof UnrecoverableFileError;
        if (!retry) throw err;
        last = err;
      }
      const elapsed = performance.now() - started;
      if (elapsed >= this.recoveryTimeoutMs) {
        const servers = last instanceof NotEnoughServersError ? last.servers : [];
        throw new RecoveryFailedError(
          ctx.siText,
          elapsed,
          last instanceof Error ? last.message : String(last),
          servers,
          last,
        );
      }
      await sleep(Math.min(delay * (0.5 + Math.random()), this.recoveryTimeoutMs - elapsed));
      delay = Math.min(delay * 2, MAX_BACKOFF_MS);
    }
  }

  private writeCap(capText: string, what: string): MutableWriteCap {
    const cap = parseCap(capText);
    if (cap.kind === 'ssk-read' || cap.kind === 'ssk-verify') throw new ReadOnlyCapError(what);
    return requireWriteCap(cap);
  }

  private context(cap: MutableWriteCap | MutableReadCap): FileContext {
    const write = cap.kind === 'ssk-write';
    return fileContext(
      {
        format: cap.format === 'ed25519' ? 'ed25519' : 'sdmf',
        fingerprint: cap.fingerprint,
        storageIndex: cap.storageIndex,
        readkey: cap.readkey,
        writekey: write ? cap.writekey : undefined,
        seed: write ? cap.seed : undefined,
      },
      this.servers,
      this.options.leaseSecret,
      this.health ? (s) => this.health!.isAway(s) : undefined,
    );
  }

  /**
   * The servers of `ctx` to plan around because they are away (MutableClientOptions.health):
   * none when the others are too few for a publish, since the away ones may be back.
   */
  private awayServers(ctx: FileContext, N = this.N): Set<StorageClient> {
    const away = new Set(ctx.permuted.filter((s) => ctx.away(s)));
    return ctx.permuted.length - away.size < this.required(N) ? new Set() : away;
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
    const options: MapUpdateOptions = {
      mode: asWriter ? 'write' : 'read',
      readSize: Math.max(hint?.shareSize ?? 0, this.readSize),
      epsilon: this.epsilon,
      k: hint?.k ?? this.k,
      N: hint?.n ?? this.N,
      wantPrivateKey: false,
      hintedShares: hint ? new Map(Object.entries(hint.shares)) : undefined,
      minimumSeqnum: known?.seqnum,
    };
    const started = performance.now();
    const deadline = started + this.incompleteWaitMs;
    for (let attempt = 1, wait = INCOMPLETE_FIRST_WAIT_MS; ; attempt++, wait *= 2) {
      const { map } = await updateServermap(ctx, options);
      try {
        return await this.readFromMap(ctx, map, { extend: options });
      } catch (err) {
        // Shares were found, but no version has k of them: most often another writer is
        // part-way through a publish (or retrying one after a partition). Look again.
        const underWay =
          map.records.length > 0 &&
          (err instanceof UnrecoverableFileError || err instanceof NotEnoughServersError);
        const left = deadline - performance.now();
        if (!underWay || this.incompleteWaitMs === 0) throw err;
        // At least one more look, however long the first took.
        if (attempt > 1 && left < wait) {
          throw withAttempts(err, attempt, performance.now() - started);
        }
        await sleep(Math.max(0, Math.min(wait, left)));
      }
    }
  }

  /** How long a read looks again for a version with k shares (see `incompleteWaitMs`). */
  private get incompleteWaitMs(): number {
    return this.options.incompleteWaitMs ?? 3000;
  }

  /**
   * Decodes the best version in `map` (recovery order: highest seqnum, most shares, our own
   * last unless newest), enforcing the rollback guard, and records it. A version whose
   * shares fail verification gives way to the next one; when none can be read and
   * `extend` is given, more servers are asked before giving up.
   */
  private async readFromMap(
    ctx: FileContext,
    map: Servermap,
    options: { own?: OwnVersion; candidates?: Candidate[]; extend?: MapUpdateOptions } = {},
  ): Promise<ReadState> {
    const si = ctx.keys.storageIndex;
    const known = await this.cache?.highestVersion(si);
    for (;;) {
      for (const candidate of options.candidates ?? orderCandidates(map, options.own)) {
        const own = candidate.own;
        if (own?.rootHash) {
          return {
            ctx,
            map,
            plaintext: own.plaintext,
            seqnum: own.seqnum,
            version: { seqnum: own.seqnum, rootHash: own.rootHash },
            fromCache: false,
            candidate,
          };
        }
        const best = candidate.summary;
        if (!best || (known && best.seqnum < known.seqnum)) continue;
        let got;
        try {
          got = await retrieveVersion(ctx, map, best);
        } catch (err) {
          if (err instanceof UnrecoverableFileError) continue; // its shares were marked bad
          throw err;
        }
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
          candidate,
        };
      }
      if (options.extend) {
        const asked = map.servers.size;
        await updateServermap(ctx, { ...options.extend, map });
        if (map.servers.size > asked) continue;
      }
      throw this.unreadable(ctx, map, known);
    }
  }

  /** The error for a map from which no version could be read. */
  private unreadable(
    ctx: FileContext,
    map: Servermap,
    known: { seqnum: number } | undefined,
  ): Error {
    const best = map.bestRecoverable();
    if (known && best && best.seqnum < known.seqnum) {
      const servers = [...new Set(best.shares.map((r) => r.server.name))];
      return new RollbackError(ctx.siText, known.seqnum, best.seqnum, servers);
    }
    // Servers that hold only MDMF shares answered well: the cap names the wrong format.
    if (
      map.records.length === 0 &&
      map.bad.length > 0 &&
      map.bad.every((b) => b.checkstring[0] === 1)
    ) {
      return new UnrecoverableFileError(
        ctx.siText,
        'its shares are MDMF, but the cap says SDMF (URI:SSK…); read it with its URI:MDMF cap',
        map.outcomes(),
      );
    }
    if (map.hasFailures()) {
      return new NotEnoughServersError(
        `cannot read ${ctx.siText}: no version has k valid shares on the servers that answered well (${map.describeVersions()})`,
        map.outcomes(),
      );
    }
    if (map.records.length === 0 && map.answeredCount > 0 && !known) {
      return new UnrecoverableFileError(
        ctx.siText,
        'no server holds any share of this file',
        map.outcomes(),
      );
    }
    return new UnrecoverableFileError(
      ctx.siText,
      `no version has enough valid shares (${map.describeVersions()})`,
      map.outcomes(),
    );
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
    // This client verified the cached version itself (it is at least the rollback guard's
    // seqnum), so the k+ε checks only look for a newer one. Servers away lately cannot
    // show one without being waited for: they are not counted while k+ε or at least k
    // other servers confirm; they are asked again once they answer a probe.
    const away = new Set(ctx.permuted.filter((s) => ctx.away(s)));
    const present = this.servers.length - away.size;
    const planAround = away.size > 0 && present >= hint.k;
    const targets = [...this.hinted(ctx, hint)].filter(([s]) => !planAround || !away.has(s));
    const need = Math.min(hint.k + this.epsilon, planAround ? present : this.servers.length);
    const want = Math.min(hint.k + this.epsilon, targets.length);
    if (want < need) return undefined;
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
    const [records] = await this.cache.recordsMany([ctx.keys.storageIndex]);
    return stateFrom(ctx, records);
  }

  /**
   * The signing key without asking the grid: for Ed25519 the write cap itself (so "private
   * key unavailable" cannot happen); for SDMF the encrypted private key from the cache,
   * checked against the writekey.
   */
  private async cachedPrivateKey(ctx: FileContext): Promise<SigningKeys | undefined> {
    if (ctx.keys.format === 'ed25519') {
      return { seed: ctx.keys.seed!, publicKey: ctx.keys.fingerprint };
    }
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
    own?: OwnAttempts,
  ): Promise<WarmOutcome> {
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
    const hinted = this.hinted(ctx, hint);
    // Servers away lately keep their old shares; theirs go to the others (tested as absent).
    const away = this.awayServers(ctx, hint.n);
    const reachable = [...hinted.keys()].filter((s) => !away.has(s));
    const expected: ExpectedShares = new Map();
    for (const [server, numbers] of hinted) {
      expected.set(server, new Map(numbers.map((n) => [n, hint.checkstring])));
    }
    if (expected.size === 0) return undefined;
    // The cold path places the extra share on a configured home the hint does not know,
    // and rebalances when the grid has servers the hint does not mention while some
    // server (other than the home) holds two shares.
    if (this.home && !hinted.has(this.home)) return undefined;
    // A reader's hint names only the shares it read: too few servers for a publish to
    // succeed, or share numbers missing that the publish would double up on them.
    if (reachable.length < this.required(hint.n)) return undefined;
    if (new Set([...hinted.values()].flat()).size < hint.n) return undefined;
    const home = this.home ?? reachable[0];
    const doubled = [...hinted].some(([s, numbers]) => s !== home && numbers.length > 1);
    const unused = this.servers.some((s) => !hinted.has(s) && !away.has(s));
    if (doubled && unused) return undefined;
    // A server that was away when the hint was made and answers again: the cold path
    // overwrites its old shares or moves surplus ones to it, so it is used again.
    if (this.health && unused && hinted.size < Math.min(hint.n, this.servers.length)) {
      return undefined;
    }
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
        home,
        exclude: away,
        ...own,
      });
      await this.remember(ctx, result, plaintext, keys);
      return { result };
    } catch (err) {
      if (err instanceof UncoordinatedWriteError || err instanceof NotEnoughServersError) {
        await this.cache.forgetServermapHint(si);
        return err instanceof UncoordinatedWriteError
          ? { collision: err, k: hint.k, N: hint.n }
          : undefined;
      }
      throw err;
    }
  }

  /**
   * A writer's servermap (all shares of every server up to N+ε, or of every server in
   * 'check' mode; one request each) and the private key, preferably from the home server.
   */
  private async writerMap(
    ctx: FileContext,
    mode: 'write' | 'check' = 'write',
  ): Promise<MapUpdateResult & { signingKeys: SigningKeys }> {
    const si = ctx.keys.storageIndex;
    const cachedKey = await this.cachedPrivateKey(ctx);
    const hint = await this.cache?.servermapHint(si);
    const known = await this.cache?.highestVersion(si);
    const update = await updateServermap(ctx, {
      mode,
      readSize: Math.max(hint?.shareSize ?? 0, this.readSize),
      epsilon: this.epsilon,
      k: hint?.k ?? this.k,
      N: hint?.n ?? this.N,
      wantPrivateKey: !cachedKey,
      minimumSeqnum: known?.seqnum,
      preferKeyFrom: this.home ?? ctx.permuted[0],
      required: this.required(hint?.n ?? this.N),
    });
    const signingKeys =
      cachedKey ?? (update.privateKey ? keyPairFromPrivateKey(update.privateKey) : undefined);
    if (!signingKeys) {
      // SDMF only: an Ed25519 writer's key is its cap (cachedKey above).
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
    return { ...update, signingKeys };
  }

  /** Publishes `plaintext` over every share in `map`, with seqnum = highest seen + 1. */
  private async publishOver(
    ctx: FileContext,
    map: Servermap,
    keys: SigningKeys,
    plaintext: Uint8Array,
    options: { k?: number; N?: number; requireAllShares?: boolean } & Partial<OwnAttempts> = {},
  ): Promise<PublishResult> {
    const known = await this.cache?.highestVersion(ctx.keys.storageIndex);
    const encoding = this.encodingOf(map);
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
    const result = await publishVersion({
      ctx,
      keys,
      plaintext,
      seqnum: Math.max(map.highestSeqnum(), known?.seqnum ?? 0) + 1,
      k: options.k ?? encoding.k,
      N: options.N ?? encoding.N,
      expected,
      // Only servers the map heard from: their contents are known, so "no share" tests hold.
      servers: ctx.permuted.filter((s) => map.servers.has(s.name)),
      happy: this.happy,
      exclude: failed,
      home: this.home,
      requireAllShares: options.requireAllShares,
      ours: options.ours,
      onBuilt: options.onBuilt,
    });
    await this.remember(ctx, result, plaintext, keys);
    return result;
  }

  /** Recorded (in the cache too) before any share of the attempt is sent. */
  private async noteAttempt(
    si: Uint8Array,
    version: BuiltVersion,
    base: VersionId | undefined,
  ): Promise<void> {
    const mine = await this.loadAttempts(si);
    mine.set(versionKeyOf(version), base ? versionKeyOf(base) : '');
    await this.cache?.putOwnAttempts(si, [...mine]);
  }

  private async loadAttempts(si: Uint8Array): Promise<Map<string, string>> {
    const key = toHex(si);
    let mine = this.attempts.get(key);
    if (!mine) {
      mine = new Map((await this.cache?.ownAttempts(si)) ?? []);
      if (this.attempts.size >= MAX_ATTEMPT_FILES) {
        this.attempts.delete(this.attempts.keys().next().value!);
      }
      this.attempts.set(key, mine);
    }
    return mine;
  }

  /**
   * After a successful update: earlier attempts are superseded, but the version published
   * stays known as ours, based on `base`. A caller that never learned of the success — a
   * mount killed after the publish, before its journal recorded the new base — updates
   * again from `base`; finding this version on the grid is then no collision with itself.
   */
  private async settleAttempts(
    si: Uint8Array,
    published: VersionId,
    base: VersionId | undefined,
  ): Promise<void> {
    const mine = new Map([[versionKeyOf(published), base ? versionKeyOf(base) : '']]);
    const key = toHex(si);
    if (!this.attempts.has(key) && this.attempts.size >= MAX_ATTEMPT_FILES) {
      this.attempts.delete(this.attempts.keys().next().value!);
    }
    this.attempts.set(key, mine);
    await this.cache?.putOwnAttempts(si, [...mine]);
  }

  /**
   * Our attempts at the change based on `base`: those based on it, and on those, and so
   * on (a retry builds on the version it read, which may be an earlier attempt of ours).
   * Without a base, every attempt counts (the caller overwrites whatever is there).
   */
  private async attemptsOn(si: Uint8Array, base: VersionId | undefined): Promise<Set<string>> {
    const mine = await this.loadAttempts(si);
    if (!base) return new Set(mine.keys());
    const out = new Set<string>();
    const bases = new Set([versionKeyOf(base)]);
    for (let grew = true; grew;) {
      grew = false;
      for (const [version, on] of mine) {
        if (bases.has(on) && !out.has(version)) {
          out.add(version);
          bases.add(version);
          grew = true;
        }
      }
    }
    return out;
  }

  /**
   * After a successful publish: the version, where the shares are and the data (one cache
   * write), and an SDMF file's encrypted key. `fresh`: the file's key was generated for
   * this publish, so the cache holds nothing of it yet.
   */
  private async remember(
    ctx: FileContext,
    result: PublishResult,
    plaintext: Uint8Array,
    keys: SigningKeys,
    fresh = false,
  ): Promise<void> {
    if (!this.cache) return;
    const si = ctx.keys.storageIndex;
    const v = result.version;
    const shares: Record<string, number[]> = {};
    for (const [server, numbers] of result.placed) shares[toBase32(server.serverId)] = [...numbers];
    await this.cache.recordPublished(si, {
      version: { seqnum: v.seqnum, roothash: v.rootHash },
      hint: {
        seqnum: v.seqnum,
        roothash: v.rootHash,
        checkstring: v.checkstring,
        k: v.k,
        n: v.N,
        shareSize: v.shares[0].length,
        shares,
      },
      plaintext,
      fresh,
    });
    if (!isEd25519Keys(keys) && !(await this.cache.encryptedPrivateKey(si))) {
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

/** Our own attempted version after a collision, if the error says what it was. */
function ownVersion(
  plaintext: Uint8Array,
  collision: UncoordinatedWriteError,
  k: number,
  N: number,
): OwnVersion | undefined {
  if (!collision.ourRootHash) return undefined;
  return { plaintext, seqnum: collision.ourSeqnum, rootHash: collision.ourRootHash, k, N };
}

/**
 * The cached state of a file from its cache records: only when the cached plaintext is
 * the version the servermap hint names, and no higher version was ever seen.
 */
function stateFrom(
  ctx: FileContext,
  { data, hint, version }: { data?: CachedData; hint?: ServermapHint; version?: VersionRecord },
): ReadState | undefined {
  if (!data || !hint || !version) return undefined;
  if (data.seqnum !== hint.seqnum || !equalBytes(data.roothash, hint.roothash)) return undefined;
  if (version.seqnum > data.seqnum) return undefined;
  return {
    ctx,
    plaintext: data.plaintext,
    seqnum: data.seqnum,
    version: { seqnum: data.seqnum, rootHash: data.roothash },
    fromCache: true,
  };
}
