// Log lines for failures of the mount: one short line per failure that names the object
// by kind and path ("root directory /", "file /a/b.txt") rather than by a storage index
// (which reads as if a damaged file were meant), with the servers summarised (how many
// did what) instead of listed one by one, and the same failure of the same object logged
// once per window with a count instead of once per getattr.
import { describeFailure } from './errno.js';

export type ObjectKind = 'root directory' | 'directory' | 'file' | 'symbolic link';

/** "root directory /", "file /a/b.txt"; just the path when the kind is not known. */
export function describeObject(path: string, kind: ObjectKind | undefined): string {
  return kind ? `${kind} ${path}` : path;
}

interface ServerOutcomeLike {
  server: string;
  outcome: string;
}

/** 26 base32 characters: a storage index as the layers below write it in messages. */
const STORAGE_INDEX = /\b[a-z2-7]{26}\b/g;
/** Where the layers below start listing every server's outcome. */
const SERVER_LIST = /\.? (Servers tried|Servers): .*$/s;
const MAX_SHOWN = 3;

/** "7 ok; 3 ERR_SERVER_TIMEOUT (s1, s2, s3)": servers grouped by what they did. */
export function summarizeServers(outcomes: readonly ServerOutcomeLike[]): string {
  const groups = new Map<string, string[]>();
  for (const o of outcomes) {
    // The outcome's kind is its code (or its first words), not the varying detail.
    const kind = /^ERR_[A-Z_]+/.exec(o.outcome)?.[0] ?? o.outcome.split(':')[0].trim();
    groups.set(kind, [...(groups.get(kind) ?? []), o.server]);
  }
  return [...groups]
    .sort((a, b) => b[1].length - a[1].length)
    .map(([kind, servers]) => {
      const shown = servers.slice(0, MAX_SHOWN).join(', ');
      const more = servers.length > MAX_SHOWN ? `, +${servers.length - MAX_SHOWN}` : '';
      return `${servers.length} ${kind} (${shown}${more})`;
    })
    .join('; ');
}

/** One line for `err` about `object`: storage indexes replaced by it, servers summarised. */
export function summarizeFailure(err: unknown, object: string): string {
  let text = describeFailure(err).replace(STORAGE_INDEX, object);
  const servers = (err as { servers?: unknown } | null)?.servers;
  if (Array.isArray(servers) && servers.every(isOutcome)) {
    text = text.replace(SERVER_LIST, '');
    if (servers.length) text += `; servers: ${summarizeServers(servers)}`;
  }
  return text;
}

function isOutcome(value: unknown): value is ServerOutcomeLike {
  const o = value as ServerOutcomeLike | null;
  return typeof o?.server === 'string' && typeof o.outcome === 'string';
}

/**
 * Passes a line on unless the same key was logged within `windowMs`; the next line after
 * the window says how many were left out.
 */
export class RepeatFilter {
  private readonly seen = new Map<string, { at: number; skipped: number }>();

  constructor(
    private readonly windowMs = 30_000,
    private readonly now: () => number = Date.now,
  ) {}

  /** The line to log (with a count of those left out), or undefined to stay quiet. */
  filter(key: string, line: string): string | undefined {
    const now = this.now();
    const last = this.seen.get(key);
    if (last && now - last.at < this.windowMs) {
      last.skipped++;
      return undefined;
    }
    if (this.seen.size > 1000) this.seen.clear();
    this.seen.set(key, { at: now, skipped: 0 });
    if (!last?.skipped) return line;
    return `${line} (${last.skipped} more like it since ${Math.round((now - last.at) / 1000)} s ago not shown)`;
  }
}
