// Names of conflict copies (design.md, "Honesty rules for the mount"): when our publish
// of NAME loses to another writer, our bytes are kept beside it as
// `STEM.conflict-YYYYMMDD-HHMMSS-CLIENT.EXT`, keeping the extension so the copy opens
// with the same program; at most a few per file, oldest first out. Pure: no I/O.

const MAX_NAME_BYTES = 255;
const MARK = '.conflict-';

/** Splits `report.txt` into ['report', '.txt']; dotfiles and names without one: no ext. */
export function splitExtension(name: string): [stem: string, ext: string] {
  const dot = name.lastIndexOf('.');
  // No extension: none at all, a leading dot (.bashrc), or a trailing dot; long tails
  // (over 16 characters) are not extensions either, just a dot in the name.
  if (dot <= 0 || dot === name.length - 1 || name.length - dot > 16) return [name, ''];
  return [name.slice(0, dot), name.slice(dot)];
}

/** `YYYYMMDD-HHMMSS` in UTC. */
export function conflictTimestamp(when: Date): string {
  const p = (n: number, w = 2) => String(n).padStart(w, '0');
  return (
    `${p(when.getUTCFullYear(), 4)}${p(when.getUTCMonth() + 1)}${p(when.getUTCDate())}-` +
    `${p(when.getUTCHours())}${p(when.getUTCMinutes())}${p(when.getUTCSeconds())}`
  );
}

/** A client label safe inside a file name: [A-Za-z0-9_-], at most 24 characters. */
export function clientLabel(name: string): string {
  const label = name.replace(/[^A-Za-z0-9_-]+/g, '-').replace(/^-+|-+$/g, '');
  return (label || 'client').slice(0, 24);
}

/**
 * The conflict copy's name for `name`, made at `when` by `client`. `taken` says whether a
 * name is already used (two conflicts in one second): then `-2`, `-3`, … is appended to
 * the client label. The stem is shortened when the result would exceed 255 bytes.
 */
export function conflictName(
  name: string,
  when: Date,
  client: string,
  taken: (candidate: string) => boolean = () => false,
): string {
  const [stem, ext] = splitExtension(name);
  const label = clientLabel(client);
  for (let n = 1; ; n++) {
    const suffix = `${MARK}${conflictTimestamp(when)}-${label}${n > 1 ? `-${n}` : ''}${ext}`;
    const room = MAX_NAME_BYTES - Buffer.byteLength(suffix);
    const candidate = truncateUtf8(stem, room) + suffix;
    if (!taken(candidate)) return candidate;
  }
}

function truncateUtf8(text: string, maxBytes: number): string {
  if (Buffer.byteLength(text) <= maxBytes) return text;
  let out = '';
  let bytes = 0;
  for (const ch of text) {
    const b = Buffer.byteLength(ch);
    if (bytes + b > maxBytes) break;
    out += ch;
    bytes += b;
  }
  return out;
}

const COPY_RE = /^(.*)\.conflict-(\d{8}-\d{6})-([A-Za-z0-9_-]+?)(?:-(\d+))?(\.[^.]*)?$/;

/** If `candidate` is a conflict copy of `name`, its timestamp and counter (for ordering). */
export function parseConflictCopy(
  name: string,
  candidate: string,
): { stamp: string; counter: number } | undefined {
  const m = COPY_RE.exec(candidate);
  if (!m) return undefined;
  const [stem, ext] = splitExtension(name);
  const ext2 = m[5] ?? '';
  if (ext2 !== ext) return undefined;
  // The stem may have been shortened to fit 255 bytes.
  if (m[1] !== stem && !(m[1].length > 0 && stem.startsWith(m[1]) && candidate.length >= 200)) {
    return undefined;
  }
  return { stamp: m[2], counter: Number(m[4] ?? 1) };
}

/** The conflict copies of `name` among `names` that exceed `keep`, oldest first. */
export function conflictCopiesToPrune(
  name: string,
  names: Iterable<string>,
  keep: number,
): string[] {
  const copies: Array<{ name: string; stamp: string; counter: number }> = [];
  for (const candidate of names) {
    const parsed = parseConflictCopy(name, candidate);
    if (parsed) copies.push({ name: candidate, ...parsed });
  }
  copies.sort((a, b) =>
    a.stamp !== b.stamp
      ? a.stamp < b.stamp
        ? -1
        : 1
      : a.counter - b.counter || (a.name < b.name ? -1 : 1),
  );
  return copies.slice(0, Math.max(0, copies.length - keep)).map((c) => c.name);
}
