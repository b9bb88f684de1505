// Errors of the mount and their errno. FUSE handlers answer with a negative errno; a user
// sees only that number (ls: "No such file or directory"), so every grid failure also
// gets a log line that names its cause — the errno alone (EIO) says nothing.
import { constants } from 'node:os';

const E = constants.errno;

/** Negative errno values, as FUSE handlers return them. */
export const Errno = {
  EPERM: -E.EPERM,
  ENOENT: -E.ENOENT,
  EIO: -E.EIO,
  EBADF: -E.EBADF,
  EBUSY: -E.EBUSY,
  EEXIST: -E.EEXIST,
  EXDEV: -E.EXDEV,
  ENOTDIR: -E.ENOTDIR,
  EISDIR: -E.EISDIR,
  EINVAL: -E.EINVAL,
  EFBIG: -E.EFBIG,
  EROFS: -E.EROFS,
  ENAMETOOLONG: -E.ENAMETOOLONG,
  ENOTEMPTY: -E.ENOTEMPTY,
  ENODATA: -E.ENODATA,
  ENOTSUP: -E.ENOTSUP,
  ENOSYS: -E.ENOSYS,
  EACCES: -E.EACCES,
  EILSEQ: -E.EILSEQ,
  ELOOP: -E.ELOOP,
  ENOSPC: -E.ENOSPC,
} as const;

export type ErrnoName = keyof typeof Errno;

/** A refusal the mount decides itself (bad name, not a directory, …), with its errno. */
export class FsError extends Error {
  readonly code = 'ERR_FS';
  constructor(
    readonly errno: ErrnoName,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'FsError';
  }
}

export interface ErrnoVerdict {
  errno: number;
  /** The errno's name, for logs. */
  name: ErrnoName;
  /** A log line is due: the cause is a failure, not an ordinary answer like ENOENT. */
  failure: boolean;
}

const GRID_CODES = new Set([
  'ERR_NOT_ENOUGH_SERVERS',
  'ERR_IMMUTABLE_NOT_ENOUGH_SHARES',
  'ERR_UNRECOVERABLE',
  'ERR_ROLLBACK',
  'ERR_PRIVATE_KEY_UNAVAILABLE',
  'ERR_TOO_MANY_COLLISIONS',
  'ERR_UNCOORDINATED_WRITE',
]);

/**
 * The errno for an error from any layer below: the dirnode layer's refusals map to what
 * a user expects (ENOENT, EEXIST, EROFS, …); everything the grid did wrong is EIO.
 */
export function errnoOf(err: unknown): ErrnoVerdict {
  const verdict = (name: ErrnoName, failure = false): ErrnoVerdict => ({
    errno: Errno[name],
    name,
    failure,
  });
  if (err instanceof FsError) return verdict(err.errno, err.errno === 'EIO');
  const e = err as { code?: unknown; nameProblem?: unknown } | null;
  const code = typeof e?.code === 'string' ? e.code : '';
  switch (code) {
    case 'ERR_DIR_NOT_FOUND':
      return verdict('ENOENT');
    case 'ERR_DIR_EXISTS':
      return verdict('EEXIST');
    case 'ERR_DIR_READ_ONLY':
    case 'ERR_READ_ONLY_CAP':
      return verdict('EROFS');
    case 'ERR_DIR_NOT_DIRECTORY':
      return verdict('ENOTDIR');
    case 'ERR_DIR_NAME':
      return verdict(e?.nameProblem === 'too-long' ? 'ENAMETOOLONG' : 'EINVAL');
    case 'ERR_SDMF_FILE_TOO_LARGE':
      return verdict('EFBIG');
    case 'ERR_DIR_SYMLINK_TARGET':
      return verdict('EINVAL');
    // This machine's disk (the journal, the cache) is full: tar and cp then say so.
    case 'ENOSPC':
    case 'EDQUOT':
      return verdict('ENOSPC', true);
  }
  if (code.startsWith('ERR_CAP')) return verdict('EINVAL');
  if (GRID_CODES.has(code) || code.startsWith('ERR_SERVER') || code.startsWith('ERR_REQUEST')) {
    return verdict('EIO', true);
  }
  return verdict('EIO', true);
}

/** One line naming what failed, for the log (the first line of the message, trimmed). */
export function describeFailure(err: unknown): string {
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    return `${typeof code === 'string' ? `${code}: ` : ''}${err.message}`.replace(/\s+/g, ' ');
  }
  return String(err);
}
