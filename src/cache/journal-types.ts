// What the write-back journal records for a dirty file, and its error (journal.ts).

export interface JournalVersion {
  seqnum: number;
  /** hex */
  rootHash: string;
}

export interface JournalMeta {
  /** The file's cap, once it exists on the grid (a new file has none yet). */
  cap?: string;
  /** The directory the file is linked under (or will be), and its name there. */
  parentCap: string;
  name: string;
  /** Path in the mount when journaled (for log lines only). */
  path?: string;
  /** The version the dirty contents were based on (absent for a new file). */
  basedOn?: JournalVersion;
  /** Not linked yet: 'new' (the name was free) or 'replace' (renamed over another entry). */
  link?: 'new' | 'replace';
  mode?: number;
  /** Modification time, ms since the epoch. */
  mtime?: number;
  /** mark() when this metadata was recorded: writes recorded later bring their own mtime. */
  afterOp?: number;
}

export interface JournalEntry {
  id: string;
  meta: JournalMeta;
  contents: Uint8Array;
  /**
   * The modification time (ms) carried by the last write or truncate, when it was recorded
   * after the metadata (which otherwise holds the newer mtime, e.g. set by touch -d).
   */
  changedAt?: number;
}

export class JournalError extends Error {
  constructor(
    readonly code: 'ERR_JOURNAL_LOCKED' | 'ERR_JOURNAL_DAMAGED',
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'JournalError';
  }
}
