// What `slotfs status` shows about a running mount: each server's last answer and round
// trip (from the 'slotfs:request' diagnostics channel), recent conflicts and errors.
import diagnosticsChannel from 'node:diagnostics_channel';
import { REQUEST_CHANNEL_NAME, type RequestEvent } from '../grid/request-events.js';
import type { StorageClient } from '../grid/storage-client.js';
import type { ConflictRecord, PendingWrite } from './slotfs.js';

export interface ServerState {
  name: string;
  /** 'up': last request answered; 'down': it failed at the connection; 'unknown': none yet. */
  state: 'up' | 'down' | 'unknown';
  lastRttMs: number | null;
  lastAt: number | null;
  lastError: string | null;
  inFlight: number;
  /** Requests that ended since the mount started (answered or not). */
  requests: number;
  /** Of those, batches of writes (read-test-write-many), and the writes they carried. */
  batches?: number;
  batchedWrites?: number;
  /** Away lately (src/grid/server-health.ts): operations plan around it until it answers. */
  away?: boolean;
}

export interface MountStatus {
  mountpoint: string;
  clientDir: string;
  rootCapFile: string;
  pid: number;
  startedAt: number;
  servers: ServerState[];
  pending: PendingWrite[];
  /** Write-backs published since the mount started, and per second recently (10 s). */
  published: number;
  publishRate: number;
  /** Close-to-open checks made for a folder's files at once (read-many). */
  openChecks?: { checks: number; files: number; confirmed: number; requests: number };
  /** Folder updates published since the mount started, the changes in them, re-applications. */
  folderUpdates?: { updates: number; operations: number; retries: number };
  conflicts: ConflictRecord[];
  errors: Array<{ at: number; message: string }>;
}

const KEEP = 20;
/** Codes that mean the server did not answer at all (vs. answered with an error). */
const DOWN = /UNREACHABLE|TIMEOUT|TLS|ABORTED|CLOSED/;

export class MountMonitor {
  private readonly servers = new Map<string, ServerState>();
  private readonly inFlight = new Map<number, { server: string; since: number }>();
  readonly conflicts: ConflictRecord[] = [];
  readonly errors: Array<{ at: number; message: string }> = [];
  private readonly listener = (message: unknown) => this.onEvent(message as RequestEvent);

  constructor(serverNames: readonly string[]) {
    for (const name of serverNames) {
      this.servers.set(name, {
        name,
        state: 'unknown',
        lastRttMs: null,
        lastAt: null,
        lastError: null,
        inFlight: 0,
        requests: 0,
      });
    }
    diagnosticsChannel.subscribe(REQUEST_CHANNEL_NAME, this.listener);
  }

  stop(): void {
    diagnosticsChannel.unsubscribe(REQUEST_CHANNEL_NAME, this.listener);
  }

  noteConflict(record: ConflictRecord): void {
    this.conflicts.push(record);
    if (this.conflicts.length > KEEP) this.conflicts.shift();
  }

  noteError(message: string): void {
    this.errors.push({ at: Date.now(), message });
    if (this.errors.length > KEEP) this.errors.shift();
  }

  /** Servers with a request outstanding for longer than `ms` (to name in a timeout). */
  slowServers(ms: number): string[] {
    const now = Date.now();
    const names = new Set<string>();
    for (const r of this.inFlight.values()) if (now - r.since >= ms) names.add(r.server);
    return [...names].sort();
  }

  /** Asks every server for its version document (bounded), then reports. */
  async probe(servers: readonly StorageClient[], timeoutMs = 5000): Promise<ServerState[]> {
    await Promise.allSettled(
      servers.map((s) => s.getVersion({ refresh: true, signal: AbortSignal.timeout(timeoutMs) })),
    );
    return this.snapshot();
  }

  snapshot(): ServerState[] {
    return [...this.servers.values()].map((s) => ({ ...s }));
  }

  private onEvent(event: RequestEvent): void {
    let s = this.servers.get(event.serverName);
    if (!s) {
      s = {
        name: event.serverName,
        state: 'unknown',
        lastRttMs: null,
        lastAt: null,
        lastError: null,
        inFlight: 0,
        requests: 0,
      };
      this.servers.set(event.serverName, s);
    }
    if (event.phase === 'start') {
      s.inFlight++;
      this.inFlight.set(event.id, { server: event.serverName, since: Date.now() });
      return;
    }
    s.inFlight = Math.max(0, s.inFlight - 1);
    s.requests++;
    if (event.items !== undefined) {
      s.batches = (s.batches ?? 0) + 1;
      s.batchedWrites = (s.batchedWrites ?? 0) + event.items;
    }
    this.inFlight.delete(event.id);
    s.lastAt = Date.now();
    s.lastRttMs = Math.round(event.durationMs * 10) / 10;
    if (event.errorCode === null || (event.status !== null && !DOWN.test(event.errorCode))) {
      s.state = 'up';
      s.lastError = event.errorCode;
    } else {
      s.state = 'down';
      s.lastError = event.errorCode;
    }
  }
}
