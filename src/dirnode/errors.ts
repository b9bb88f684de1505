// Typed errors of the dirnode format. `code` is stable; `child` is the index of the entry
// (in stored order for unpacking, input order for packing) when one is to blame.

export type DirnodeErrorCode =
  | 'ERR_DIRNODE_WRITEKEY'
  | 'ERR_DIRNODE_NETSTRING'
  | 'ERR_DIRNODE_ENTRY_FIELDS'
  | 'ERR_DIRNODE_UTF8'
  | 'ERR_DIRNODE_NAME'
  | 'ERR_DIRNODE_DUPLICATE_NAME'
  | 'ERR_DIRNODE_CAP'
  | 'ERR_DIRNODE_RWCAPDATA'
  | 'ERR_DIRNODE_MAC'
  | 'ERR_DIRNODE_METADATA';

export class DirnodeFormatError extends Error {
  constructor(
    readonly code: DirnodeErrorCode,
    message: string,
    readonly child?: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'DirnodeFormatError';
  }
}

/** Why a directory operation was refused; the mount maps `code` to an errno. */
export type DirectoryErrorCode =
  /** The name is not in the directory (ENOENT). */
  | 'ERR_DIR_NOT_FOUND'
  /** The name is already in the directory and the caller asked not to replace it (EEXIST). */
  | 'ERR_DIR_EXISTS'
  /** A change was asked through a read-only directory cap (EROFS). */
  | 'ERR_DIR_READ_ONLY'
  /** The name is empty, '.', '..', contains '/' or NUL, or is over 255 UTF-8 bytes. */
  | 'ERR_DIR_NAME'
  /** The cap given as a directory is a file cap (ENOTDIR). */
  | 'ERR_DIR_NOT_DIRECTORY';

/** What is wrong with a name (ERR_DIR_NAME): lets the mount tell ENAMETOOLONG from EINVAL. */
export type DirNameProblem = 'empty' | 'dot' | 'slash' | 'nul' | 'too-long' | 'not-unicode';

export class DirectoryError extends Error {
  constructor(
    readonly code: DirectoryErrorCode,
    message: string,
    /** The child name concerned, NFC-normalised, when there is one. */
    readonly childName?: string,
    /** For ERR_DIR_NAME: which rule the name breaks. */
    readonly nameProblem?: DirNameProblem,
  ) {
    super(message);
    this.name = 'DirectoryError';
  }
}
