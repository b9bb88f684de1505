// The servermap: which server holds which share number of which version, as seen by one
// operation, plus the shares found bad and what each server answered. Pure bookkeeping;
// the queries that fill it live in map-update.ts.
import type { StorageClient } from '../grid/storage-client.js';
import type { SharePrefix } from '../sdmf/layout.js';
import { compareBytes, toHex } from '../encoding/bytes.js';
import type { ServerOutcome } from './errors.js';

export interface ShareRecord {
  server: StorageClient;
  shareNumber: number;
  /** The bytes read so far: a prefix of the share, or all of it (`prefix.complete`). */
  bytes: Uint8Array;
  prefix: SharePrefix;
  /** Equal exactly for the shares of one version: hex of the signed prefix. */
  versionKey: string;
}

export interface BadShare {
  server: StorageClient;
  shareNumber: number;
  /** The first (≤ 57) bytes the server held: the test for overwriting it in place. */
  checkstring: Uint8Array;
  reason: string;
}

export interface VersionSummary {
  versionKey: string;
  seqnum: number;
  rootHash: Uint8Array;
  k: number;
  N: number;
  /** Every record of this version, lowest share number first. */
  shares: ShareRecord[];
  /** Distinct share numbers found. */
  shareNumbers: number[];
  recoverable: boolean;
}

type ServerState =
  { status: 'answered'; shareNumbers: number[] } | { status: 'failed'; error: string };

export class Servermap {
  readonly records: ShareRecord[] = [];
  readonly bad: BadShare[] = [];
  /** Keyed by server name, in the order servers answered. */
  readonly servers = new Map<string, { server: StorageClient; state: ServerState }>();

  answered(server: StorageClient, shareNumbers: number[]): void {
    this.servers.set(server.name, { server, state: { status: 'answered', shareNumbers } });
  }

  failed(server: StorageClient, error: string): void {
    this.servers.set(server.name, { server, state: { status: 'failed', error } });
  }

  add(record: ShareRecord): void {
    const i = this.records.findIndex(
      (r) => r.server === record.server && r.shareNumber === record.shareNumber,
    );
    if (i >= 0) this.records[i] = record;
    else this.records.push(record);
  }

  markBad(bad: BadShare): void {
    const i = this.records.findIndex(
      (r) => r.server === bad.server && r.shareNumber === bad.shareNumber,
    );
    if (i >= 0) this.records.splice(i, 1);
    if (!this.bad.some((b) => b.server === bad.server && b.shareNumber === bad.shareNumber)) {
      this.bad.push(bad);
    }
  }

  /**
   * Servers that answered well: a server that returned a share failing verification is
   * bad for the rest of the operation and does not count (another server is asked).
   */
  get answeredCount(): number {
    let n = 0;
    for (const { server, state } of this.servers.values()) {
      if (state.status === 'answered' && !this.bad.some((b) => b.server === server)) n++;
    }
    return n;
  }

  /** True when some server failed or returned a bad share in this operation. */
  hasFailures(): boolean {
    if (this.bad.length > 0) return true;
    for (const { state } of this.servers.values()) if (state.status === 'failed') return true;
    return false;
  }

  /** Server → share numbers of one version, as the placement code counts them. */
  placementOf(versionKey: string): Map<StorageClient, number[]> {
    const out = new Map<StorageClient, number[]>();
    for (const r of this.records) {
      if (r.versionKey !== versionKey) continue;
      out.set(r.server, [...(out.get(r.server) ?? []), r.shareNumber]);
    }
    return out;
  }

  isFailed(server: StorageClient): boolean {
    return this.servers.get(server.name)?.state.status === 'failed';
  }

  /**
   * Every version seen, best first: highest seqnum, then the most distinct shares (so that
   * of two colliding versions the one placed more widely wins, as in recovery, §11.6),
   * then root hash, then salt (§5.4).
   */
  versions(): VersionSummary[] {
    const groups = new Map<string, ShareRecord[]>();
    for (const r of this.records) {
      const g = groups.get(r.versionKey);
      if (g) g.push(r);
      else groups.set(r.versionKey, [r]);
    }
    const out: VersionSummary[] = [];
    for (const [versionKey, shares] of groups) {
      shares.sort((a, b) => a.shareNumber - b.shareNumber);
      const { seqnum, rootHash, k, N } = shares[0].prefix;
      const shareNumbers = [...new Set(shares.map((s) => s.shareNumber))];
      out.push({
        versionKey,
        seqnum,
        rootHash,
        k,
        N,
        shares,
        shareNumbers,
        recoverable: shareNumbers.length >= k,
      });
    }
    return out.sort(
      (a, b) =>
        b.seqnum - a.seqnum ||
        b.shareNumbers.length - a.shareNumbers.length ||
        compareBytes(b.rootHash, a.rootHash) ||
        compareBytes(b.shares[0].prefix.salt, a.shares[0].prefix.salt),
    );
  }

  bestRecoverable(): VersionSummary | undefined {
    return this.versions().find((v) => v.recoverable);
  }

  /** Highest seqnum of any valid share seen (0 when none). */
  highestSeqnum(): number {
    let max = 0;
    for (const r of this.records) if (r.prefix.seqnum > max) max = r.prefix.seqnum;
    return max;
  }

  /**
   * True when the answers so far cannot tell which version is current: one newer than the
   * best recoverable one was seen but cannot be read yet, or another one with the same
   * seqnum. A tie arises when a publish that failed (its writes queued at stalled servers,
   * run after they resumed) and the next publish, which never saw it, took one seqnum:
   * the first few servers asked may hold the failed one. Only more answers tell them apart
   * — the one on more servers wins (`versions()`).
   */
  undecided(): boolean {
    const versions = this.versions();
    const best = versions.find((v) => v.recoverable);
    return versions.some((v) => v !== best && (best ? v.seqnum >= best.seqnum : !v.recoverable));
  }

  /** One line per server for error messages. */
  outcomes(): ServerOutcome[] {
    const out: ServerOutcome[] = [];
    for (const { server, state } of this.servers.values()) {
      if (state.status === 'failed') {
        out.push({ server: server.name, outcome: state.error });
        continue;
      }
      const bad = this.bad.filter((b) => b.server === server);
      const held = state.shareNumbers.length
        ? `shares ${state.shareNumbers.join(',')}`
        : 'no shares';
      const badText = bad.map((b) => `; bad share ${b.shareNumber}: ${b.reason}`).join('');
      out.push({ server: server.name, outcome: held + badText });
    }
    return out;
  }

  /** A compact description of the versions seen, for errors and logs. */
  describeVersions(): string {
    const v = this.versions();
    if (v.length === 0) return 'no valid shares found';
    return v
      .map(
        (s) =>
          `seqnum ${s.seqnum} (${toHex(s.rootHash).slice(0, 8)}…): ${s.shareNumbers.length} of k=${s.k} shares`,
      )
      .join('; ');
  }
}
