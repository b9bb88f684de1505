// Colliding-write recovery, the pure part (tahoe-formats.md §11.6): which versions a
// servermap offers, in which order to try them, and when the grid needs no push.
//
// Order: highest seqnum first, then the most distinct shares, and our own version (the one
// this client just tried to publish, whose plaintext it still holds) last unless it is the
// newest. The first candidate that can be read is pushed — republished with seqnum = max
// seen + 1 — until N shares are placed. Pushing with a new seqnum, for every candidate and
// not only our own, leaves no two versions with equal seqnums behind, so readers cannot
// flip between them, and no reader's rollback guard can refuse the result.
import { equalBytes } from '../encoding/bytes.js';
import { happiness } from './placement.js';
import type { Servermap, VersionSummary } from './servermap.js';

/** The version this client tried to publish when it collided. */
export interface OwnVersion {
  plaintext: Uint8Array;
  seqnum: number;
  rootHash?: Uint8Array;
  k: number;
  N: number;
}

export interface Candidate {
  seqnum: number;
  /** Distinct share numbers of it on the grid (as far as the map saw). */
  shares: number;
  k: number;
  N: number;
  /** The grid's copy, when it is recoverable there. */
  summary?: VersionSummary;
  /** Set when this is our own version: no download needed. */
  own?: OwnVersion;
}

/** Recoverable versions of the map, plus our own, in recovery order. */
export function orderCandidates(map: Servermap, own?: OwnVersion): Candidate[] {
  const versions = map.versions();
  const sameAsOwn = (v: VersionSummary) =>
    own !== undefined &&
    v.seqnum === own.seqnum &&
    own.rootHash !== undefined &&
    equalBytes(v.rootHash, own.rootHash);
  const out: Candidate[] = versions
    .filter((v) => v.recoverable)
    .map((v) => ({
      seqnum: v.seqnum,
      shares: v.shareNumbers.length,
      k: v.k,
      N: v.N,
      summary: v,
      own: sameAsOwn(v) ? own : undefined,
    }));
  if (own && !out.some((c) => c.own)) {
    const onGrid = versions.find(sameAsOwn);
    out.push({
      seqnum: own.seqnum,
      shares: onGrid?.shareNumbers.length ?? 0,
      k: own.k,
      N: own.N,
      own,
    });
  }
  out.sort(
    (a, b) => b.seqnum - a.seqnum || b.shares - a.shares || Number(!!a.own) - Number(!!b.own),
  );
  // Ours goes last unless nothing seen is newer than it.
  const newest = Math.max(0, ...versions.map((v) => v.seqnum));
  const i = out.findIndex((c) => c.own);
  if (i >= 0 && out[i].seqnum < newest) out.push(...out.splice(i, 1));
  return out;
}

/**
 * Where modify() builds next, after a collision (our own attempt `own`, built on a version
 * with seqnum `ownBase`) or not. Merging re-applies the change, so the base must carry
 * every change that may have succeeded:
 *  - a recoverable version by another writer at least as new as the one our attempt was
 *    built on goes first (our change is re-applied to it); our own attempt is the base
 *    only when there is none — e.g. when colliding writers overwrote the old version
 *    everywhere and none of theirs is recoverable;
 *  - `newerVisible` says that a version newer than the chosen base (not ours) is on the
 *    grid but cannot be read: usually a publish still under way. The caller should look
 *    again shortly rather than build on an older base.
 */
export function baseCandidates(
  map: Servermap,
  own?: OwnVersion,
  ownBase?: number,
): { candidates: Candidate[]; newerVisible: boolean } {
  const isOwn = (v: VersionSummary) =>
    own?.rootHash !== undefined && v.seqnum === own.seqnum && equalBytes(v.rootHash, own.rootHash);
  const others = orderCandidates(map).filter((c) => !isOwn(c.summary!));
  let candidates = others;
  if (own && !(others[0] && others[0].seqnum >= (ownBase ?? 0))) {
    const mine = orderCandidates(map, own).find((c) => c.own)!;
    candidates = [mine, ...others];
  }
  const top = Math.max(
    0,
    ...map
      .versions()
      .filter((v) => !isOwn(v))
      .map((v) => v.seqnum),
  );
  const newerVisible = candidates.length > 0 && candidates[0].seqnum < top;
  return { candidates, newerVisible };
}

/**
 * The version needs no push: it is the only version at the highest seqnum seen, and
 * enough servers hold different shares of it (servers-of-happiness ≥ `happy`).
 */
export function safelyPlaced(map: Servermap, version: VersionSummary, happy: number): boolean {
  const versions = map.versions();
  const top = Math.max(...versions.map((v) => v.seqnum));
  if (version.seqnum !== top) return false;
  if (versions.some((v) => v.versionKey !== version.versionKey && v.seqnum === version.seqnum)) {
    return false;
  }
  return happiness(map.placementOf(version.versionKey)) >= happy;
}

/** Safely placed, and every share number 0…N−1 present: recovery has nothing to do. */
export function fullyPlaced(map: Servermap, version: VersionSummary, happy: number): boolean {
  return version.shareNumbers.length >= version.N && safelyPlaced(map, version, happy);
}
