// What the mount's rooms share: a directory's loaded view and its children, the state of a
// file this mount has touched, and the settings. No behaviour beyond small helpers.
import type { ChildMetadata } from '../dirnode/directory.js';
import type { VersionId } from '../mutable/mutable-client.js';
import type { DirEntries } from './dir-entries.js';
import type { FileBuffer } from './file-buffer.js';

export interface SlotFsOptions {
  rootCap: string;
  /** Modification time shown for the root (ms; it has no entry to keep one in). */
  rootMtime?: number;
  /** Keeps the root's new modification time (ms) for the next mount to show. */
  keepRootMtime?: (ms: number) => Promise<void>;
  dirCacheMs?: number;
  attrCacheMs?: number;
  writeBackMs?: number;
  conflicts?: 'copy' | 'last-writer-wins';
  maxConflictCopies?: number;
  /** Label in conflict copy names. */
  clientName?: string;
  /** Publishes running at once (each is one file). Default 16. */
  publishConcurrency?: number;
  /** Owner shown for every node. */
  uid?: number;
  gid?: number;
  log?: (line: string) => void;
  onConflict?: (conflict: ConflictRecord) => void;
  /** Called when a write-back reached the grid (for the publish rate). */
  onPublished?: () => void;
  /**
   * What stat shows may have changed other than through an operation: a listing read
   * again, a change that landed or failed (the binding's attribute table is emptied).
   */
  onAttrsChanged?: () => void;
  /** Capacity for statfs, from the servers' version documents. */
  capacity?: () => Promise<{ totalBytes: number; freeBytes: number }>;
}

type Optional =
  'onConflict' | 'onPublished' | 'onAttrsChanged' | 'capacity' | 'rootMtime' | 'keepRootMtime';

/** The options with their defaults filled in. */
export type Settings = Required<Omit<SlotFsOptions, Optional>> & Pick<SlotFsOptions, Optional>;

export function settingsOf(options: SlotFsOptions): Settings {
  return {
    dirCacheMs: 3000,
    attrCacheMs: 3000,
    writeBackMs: 1000,
    conflicts: 'copy',
    maxConflictCopies: 10,
    clientName: 'client',
    publishConcurrency: 64,
    uid: process.getuid?.() ?? 0,
    gid: process.getgid?.() ?? 0,
    log: (line) => console.error(line),
    ...options,
  };
}

export interface ConflictRecord {
  at: number;
  path: string;
  copy: string;
}

export interface Stat {
  mode: number;
  size: number;
  mtime: number;
  atime: number;
  ctime: number;
  nlink: number;
  uid: number;
  gid: number;
  blocks: number;
  blksize: number;
}

export interface PendingWrite {
  path: string;
  bytes: number;
  since: number;
  lastError?: string;
}

export interface Child {
  name: string;
  isDirectory: boolean;
  rwCap?: string;
  roCap: string;
  metadata: ChildMetadata;
  /** A file created here and not linked yet: it lives only in this mount (and the journal). */
  local?: FileState;
  /** A symbolic link: its target's bytes (docs/formats.md). */
  symlink?: Uint8Array;
}

export interface DirView {
  cap: string;
  writable: boolean;
  entries: DirEntries<Child>;
  fetchedAt: number;
  /**
   * The DirectoryClient's lineage of the listing shown (DirectoryClient.lineage): while it
   * holds, updates of ours that found no other writer keep the view fresh.
   */
  lineage?: number;
  /** Changes of this mount in flight: a listing fetched meanwhile may predate them. */
  pending: number;
  /** Bumped by every local change, so a refresh racing one is discarded. */
  changes: number;
  loading?: Promise<void>;
  path: string;
  /** Set by this mount's changes to the entries (ms); kept in the parent's entry too. */
  mtime?: number;
  /** Advanced by every change of the directory or of its entry (ms), never backwards. */
  ctime?: number;
  /** The mtime still to be written into the parent's entry. */
  timesTimer?: NodeJS.Timeout;
}

export class FileState {
  /** Journal id while dirty (undefined when clean). */
  journalId?: string;
  journaled?: Promise<void>;
  cap?: string;
  roCap?: string;
  buffer?: FileBuffer;
  loading?: Promise<void>;
  loadedAt = 0;
  basedOn?: VersionId;
  dirty = false;
  /** mtime or mode changed and not yet in the directory entry. */
  metaDirty = false;
  gen = 0;
  openCount = 0;
  /** Of openCount, the handles open for writing. */
  writers = 0;
  detached = false;
  /** Not linked into its directory yet: 'new' (name was free) or 'replace'. */
  link?: 'new' | 'replace';
  linking?: Promise<void>;
  publishing: Promise<void> = Promise.resolve();
  timer?: NodeJS.Timeout;
  retryTimer?: NodeJS.Timeout;
  dropTimer?: NodeJS.Timeout;
  failures = 0;
  lastError?: string;
  dirtySince = 0;
  /** Callers waiting for this file's publish (fsync): it skips the background queue. */
  urgent = 0;
  /** Status change time (ms) of changes made here; the entry's linkmotime covers the rest. */
  ctime = 0;
  /** Names the contents the buffer holds (OpenFiles.contentsNow); undefined until loaded. */
  token?: string;

  constructor(
    public parent: string,
    public name: string,
    public path: string,
    public writable: boolean,
    public mode: number,
    public mtime: number,
  ) {}

  get size(): number {
    return this.buffer?.size ?? 0;
  }
}

export interface Handle {
  file: FileState;
  writable: boolean;
  /** Opened with the kernel keeping its cached pages (KernelContents). */
  keepCache: boolean;
}

export type Target =
  { kind: 'root' } | { kind: 'child'; parent: DirView; name: string; child?: Child };

export const MAX_NAME_BYTES = 255;

/** The directory part of a mount path ('/a/b' → '/a', '/a' → '/'). */
export function dirname(path: string): string {
  const i = path.lastIndexOf('/');
  return i <= 0 ? '/' : path.slice(0, i);
}

/** The path of `name` in the directory at `dir` ('/' + 'a' → '/a'). */
export function pathIn(dir: string, name: string): string {
  return `${dir === '/' ? '' : dir}/${name}`;
}
