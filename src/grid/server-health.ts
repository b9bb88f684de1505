// Which servers are away, remembered across operations. A server whose connection failed
// or whose request timed out is "away" for a back-off period that doubles with each
// failure in a row (1 s → 30 s by default), so later operations plan around it instead of
// waiting out connect-ms or request-ms for it again. When the period ends, one cheap probe
// (the version document) goes out in the background; the server stays away until an
// answer arrives — from the probe or from any other request — and is then used at once.
//
// Away is only advice for planning: callers still ask an away server whenever correctness
// needs it (a reader that has not heard from enough servers asks everyone).
import { toBase32 } from '../encoding/base32.js';
import type { StorageClient } from './storage-client.js';

/** Codes meaning the server did not answer at all (vs. answered with an error). */
const AWAY_CODES: ReadonlySet<string> = new Set(['ERR_SERVER_UNREACHABLE', 'ERR_SERVER_TIMEOUT']);
/** Codes of errors the server itself answered with: it is reachable. */
const ANSWERED_CODES: ReadonlySet<string> = new Set([
  'ERR_SERVER_HTTP_STATUS',
  'ERR_SERVER_BAD_RESPONSE',
  'ERR_SERVER_UNAUTHORIZED',
  'ERR_SERVER_TLS_PIN',
  'ERR_WRITE_ENABLER',
]);

export interface ServerHealthOptions {
  /** Back-off after the first failure; doubles per failure in a row. Default 1000 ms. */
  initialBackoffMs?: number;
  /** Longest back-off. Default 30000 ms. */
  maxBackoffMs?: number;
  /** Clock, for tests of the arithmetic. Default Date.now. */
  now?: () => number;
}

/** What is known of one server's reachability. */
export interface HealthRecord {
  name: string;
  /** Failures to answer in a row (0: it answered last). */
  failures: number;
  /** While away: until when (epoch ms) no probe is sent. */
  awayUntil: number | null;
  lastError: string | null;
  /** A background probe is waiting for an answer. */
  probing: boolean;
}

interface Entry extends HealthRecord {
  client: StorageClient;
}

export class ServerHealth {
  private readonly entries = new Map<string, Entry>();
  private readonly initialMs: number;
  private readonly maxMs: number;
  private readonly now: () => number;
  private readonly probes = new Set<Promise<unknown>>();

  constructor(options: ServerHealthOptions = {}) {
    this.initialMs = options.initialBackoffMs ?? 1000;
    this.maxMs = Math.max(options.maxBackoffMs ?? 30_000, this.initialMs);
    this.now = options.now ?? Date.now;
  }

  /** A client that reports its outcomes here; use it in place of `client`. */
  watch(client: StorageClient): StorageClient {
    this.entry(client);
    return new WatchedClient(client, this);
  }

  /**
   * True while the server is away. When its back-off is over, a probe is sent (once) and
   * the server counts as away until an answer arrives.
   */
  isAway(server: StorageClient): boolean {
    const e = this.entries.get(key(server));
    if (!e || e.awayUntil === null) return false;
    if (this.now() >= e.awayUntil && !e.probing) this.probe(e);
    return true;
  }

  /** Every watched server's record, in the order they were watched. */
  snapshot(): HealthRecord[] {
    return [...this.entries.values()].map(({ client: _, ...r }) => ({ ...r }));
  }

  /** The record of one server (by name or node id in base32), if watched. */
  record(nameOrId: string): HealthRecord | undefined {
    const e =
      this.entries.get(nameOrId) ?? [...this.entries.values()].find((x) => x.name === nameOrId);
    if (!e) return undefined;
    const { client: _, ...r } = e;
    return { ...r };
  }

  /** Waits for the probes under way (tests, and a clean close). */
  async settled(): Promise<void> {
    while (this.probes.size > 0) await Promise.allSettled([...this.probes]);
  }

  /** An answer arrived (any answer, even an error status): the server is reachable. */
  noteAnswer(server: StorageClient): void {
    const e = this.entry(server);
    e.failures = 0;
    e.awayUntil = null;
    e.lastError = null;
  }

  /** A request failed; only connection failures and timeouts make a server away. */
  noteError(server: StorageClient, err: unknown): void {
    const code = (err as { code?: unknown } | null)?.code;
    if (typeof code !== 'string' || !AWAY_CODES.has(code)) {
      // An error status or a bad body is still an answer; an aborted request is neither.
      if (typeof code === 'string' && ANSWERED_CODES.has(code)) this.noteAnswer(server);
      return;
    }
    const e = this.entry(server);
    e.failures++;
    e.lastError = code;
    const backoff = Math.min(this.initialMs * 2 ** Math.min(e.failures - 1, 30), this.maxMs);
    e.awayUntil = this.now() + backoff;
  }

  private entry(server: StorageClient): Entry {
    const k = key(server);
    let e = this.entries.get(k);
    if (!e) {
      e = {
        client: server,
        name: server.name,
        failures: 0,
        awayUntil: null,
        lastError: null,
        probing: false,
      };
      this.entries.set(k, e);
    }
    return e;
  }

  private probe(e: Entry): void {
    e.probing = true;
    const p = e.client
      .getVersion({ refresh: true })
      .then(
        () => this.noteAnswer(e.client),
        (err: unknown) => this.noteError(e.client, err),
      )
      .finally(() => {
        e.probing = false;
        this.probes.delete(p);
      });
    this.probes.add(p);
  }
}

function key(server: StorageClient): string {
  return toBase32(server.serverId);
}

/** Passes every call through and tells the health record how it went. */
class WatchedClient implements StorageClient {
  readonly serverId: Uint8Array;
  readonly permutationSeed: Uint8Array;
  readonly name: string;

  constructor(
    readonly inner: StorageClient,
    private readonly health: ServerHealth,
  ) {
    this.serverId = inner.serverId;
    this.permutationSeed = inner.permutationSeed;
    this.name = inner.name;
    // Optional: only servers with the slotfs extension answer it, so forward it only if the
    // inner client has it (callers test for its presence).
    if (inner.readMany) {
      const readMany = inner.readMany.bind(inner);
      this.readMany = (...a) => this.track(readMany(...a));
    }
    if (inner.readTestWriteMany) {
      const readTestWriteMany = inner.readTestWriteMany.bind(inner);
      this.readTestWriteMany = (...a) => this.track(readTestWriteMany(...a));
    }
  }

  readMany?: StorageClient['readMany'];
  readTestWriteMany?: StorageClient['readTestWriteMany'];

  private async track<T>(call: Promise<T>): Promise<T> {
    try {
      const result = await call;
      this.health.noteAnswer(this.inner);
      return result;
    } catch (err) {
      this.health.noteError(this.inner, err);
      throw err;
    }
  }

  // Without `refresh` the answer may be the cached document, which proves nothing.
  private async trackErrors<T>(call: Promise<T>): Promise<T> {
    try {
      return await call;
    } catch (err) {
      this.health.noteError(this.inner, err);
      throw err;
    }
  }

  getVersion: StorageClient['getVersion'] = (o) =>
    o?.refresh ? this.track(this.inner.getVersion(o)) : this.trackErrors(this.inner.getVersion(o));
  readTestWrite: StorageClient['readTestWrite'] = (...a) =>
    this.track(this.inner.readTestWrite(...a));
  readShare: StorageClient['readShare'] = (...a) => this.track(this.inner.readShare(...a));
  listShares: StorageClient['listShares'] = (...a) => this.track(this.inner.listShares(...a));
  addLease: StorageClient['addLease'] = (...a) => this.track(this.inner.addLease(...a));
  adviseCorrupt: StorageClient['adviseCorrupt'] = (...a) =>
    this.track(this.inner.adviseCorrupt(...a));
  allocateBuckets: StorageClient['allocateBuckets'] = (...a) =>
    this.track(this.inner.allocateBuckets(...a));
  writeImmutableShare: StorageClient['writeImmutableShare'] = (...a) =>
    this.track(this.inner.writeImmutableShare(...a));
  abortImmutableUpload: StorageClient['abortImmutableUpload'] = (...a) =>
    this.track(this.inner.abortImmutableUpload(...a));
  listImmutableShares: StorageClient['listImmutableShares'] = (...a) =>
    this.track(this.inner.listImmutableShares(...a));
  readImmutableShare: StorageClient['readImmutableShare'] = (...a) =>
    this.track(this.inner.readImmutableShare(...a));
  adviseCorruptImmutable: StorageClient['adviseCorruptImmutable'] = (...a) =>
    this.track(this.inner.adviseCorruptImmutable(...a));
  close: StorageClient['close'] = () => this.inner.close();
}
