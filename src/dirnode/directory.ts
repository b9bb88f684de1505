// Directory operations over mutable files (tahoe-formats.md §8): a directory is a mutable
// file whose plaintext is the packed child table. Every change is one operation re-applied
// by MutableClient.modify() to the freshly read table, so concurrent changes by different
// clients to different names all survive (§8.4). Changes to one directory that arrive
// within a short window are published together as one update.
import type { MutableClient } from '../mutable/mutable-client.js';

/**
 * A child's metadata: Tahoe's `tahoe` timestamps (float Unix seconds, §8.2) and the keys
 * slotfs keeps so `ls -l`, `cp -p`, rsync and git see what they expect. Other keys (from
 * Tahoe front-ends or later versions) are kept as they are.
 */
export interface ChildMetadata {
  /** Maintained by DirectoryClient: linkcrtime when the name was first linked, linkmotime at every change. */
  tahoe?: { linkcrtime: number; linkmotime: number };
  /** Modification time of the child's contents, float Unix seconds. */
  mtime?: number;
  /** Legacy Tahoe key (meant link creation time); kept, not interpreted. */
  ctime?: number;
  /** Size in bytes of the child's contents. */
  size?: number;
  /** POSIX permission bits (e.g. 0o644); the file type bits are not stored. */
  mode?: number;
  [key: string]: unknown;
}

/** One child as seen through a directory cap. */
export interface DirEntry {
  /** NFC-normalised name. */
  name: string;
  /** The child's write cap: only through a directory write cap, and only if linked read-write. */
  rwCap?: string;
  /** The child's read-only cap ('' if it has none, e.g. an unknown cap kind). */
  roCap: string;
  metadata: ChildMetadata;
  /** The child's cap is a directory cap (URI:DIR2…). */
  isDirectory: boolean;
}

/** The caps to link a child under: its write cap (if any) and its read-only cap. */
export interface ChildCaps {
  rwCap?: string;
  roCap: string;
}

export interface DirectoryClientOptions {
  /** Changes to one directory within this many milliseconds go out as one update. Default 5. */
  batchWindowMs?: number;
}

export interface AddOptions {
  /** Replace an existing child of that name (default true); false: ERR_DIR_EXISTS. */
  replace?: boolean;
  /** Fail with ERR_DIR_EXISTS if the name exists (O_EXCL); overrides `replace`. */
  mustNotExist?: boolean;
}

export interface RemoveOptions {
  /** Fail with ERR_DIR_NOT_FOUND if the name is absent (default true, as in Tahoe). */
  mustExist?: boolean;
}

export interface RenameOptions {
  /** Replace an existing child named `to` (default true, as POSIX rename); false: ERR_DIR_EXISTS. */
  replace?: boolean;
}

/**
 * Operations on directories (dirnodes) over a MutableClient.
 *
 * Reads go through MutableClient.retrieve (with a warm cache: one round trip, no share data
 * if unchanged). Writes need the directory's write cap (else ERR_DIR_READ_ONLY), are queued
 * per directory for `batchWindowMs`, then published by one modify() whose function applies
 * every queued operation in order to the freshly read table; each caller's promise settles
 * with its own operation's result or error once that update is published (or failed).
 */
export class DirectoryClient {
  readonly batchWindowMs: number;

  constructor(
    readonly client: MutableClient,
    options: DirectoryClientOptions = {},
  ) {
    this.batchWindowMs = options.batchWindowMs ?? 5;
  }

  /** Creates a new empty directory; returns its write cap (URI:DIR2:…). */
  async createDirectory(): Promise<string> {
    throw new Error('not implemented yet');
  }

  /** The children, by NFC name. Through a read cap, entries carry no rwCap. */
  async list(dirCap: string): Promise<Map<string, DirEntry>> {
    void dirCap;
    throw new Error('not implemented yet');
  }

  /** One child, or undefined if the name is absent. */
  async lookup(dirCap: string, name: string): Promise<DirEntry | undefined> {
    void dirCap;
    void name;
    throw new Error('not implemented yet');
  }

  /**
   * Links `child` under `name`. `metadata` (if given) replaces the child's non-`tahoe` keys
   * (kept from the old entry when omitted on replace); `tahoe.linkcrtime` is set when the
   * name is first linked and kept on replace, `tahoe.linkmotime` is set to now.
   */
  async add(
    dirCap: string,
    name: string,
    child: ChildCaps,
    metadata?: Partial<ChildMetadata>,
    options: AddOptions = {},
  ): Promise<void> {
    void [dirCap, name, child, metadata, options];
    throw new Error('not implemented yet');
  }

  /** Unlinks `name`; returns the entry removed (undefined if absent and !mustExist). */
  async remove(
    dirCap: string,
    name: string,
    options: RemoveOptions = {},
  ): Promise<DirEntry | undefined> {
    void [dirCap, name, options];
    throw new Error('not implemented yet');
  }

  /** Renames a child within one directory, carrying its caps and metadata. */
  async rename(
    dirCap: string,
    from: string,
    to: string,
    options: RenameOptions = {},
  ): Promise<void> {
    void [dirCap, from, to, options];
    throw new Error('not implemented yet');
  }

  /**
   * Merges `patch` into a child's metadata (a key set to undefined is removed; `tahoe` is
   * not patchable) and sets tahoe.linkmotime to now. ERR_DIR_NOT_FOUND if absent.
   */
  async setMetadata(dirCap: string, name: string, patch: Partial<ChildMetadata>): Promise<void> {
    void [dirCap, name, patch];
    throw new Error('not implemented yet');
  }

  /**
   * Publishes pending changes now — of one directory, or of all — and resolves when every
   * change queued before the call is published (rejects if one of those updates failed).
   * The mount calls it on fsync of a directory and before unmount.
   */
  async flush(dirCap?: string): Promise<void> {
    void dirCap;
    throw new Error('not implemented yet');
  }
}

/** The caps to link a node under, from any one of its caps (write cap → both; read cap → ro). */
export function childCapsOf(cap: string): ChildCaps {
  void cap;
  throw new Error('not implemented yet');
}

/**
 * Checks and NFC-normalises a child name; throws DirectoryError ERR_DIR_NAME when it is
 * empty, '.', '..', contains '/' or NUL, or is longer than 255 UTF-8 bytes.
 */
export function checkChildName(name: string): string {
  void name;
  throw new Error('not implemented yet');
}
