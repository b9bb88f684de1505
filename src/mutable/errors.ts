// Errors of the mutable-file layer. Each has a stable `code` and says what happened on
// which servers, because "a write failed" is useless to someone deciding what to do next.

/** What happened to one server during one operation. */
export interface ServerOutcome {
  server: string;
  /** e.g. 'ok', 'no shares', 'ERR_SERVER_TIMEOUT: …', 'bad share 3: signature' */
  outcome: string;
}

export class MutableError extends Error {
  constructor(
    readonly code: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'MutableError';
  }
}

function describe(outcomes: readonly ServerOutcome[]): string {
  return outcomes.map((o) => `${o.server}: ${o.outcome}`).join('; ');
}

/** Too few servers answered well to finish the operation. */
export class NotEnoughServersError extends MutableError {
  constructor(
    what: string,
    readonly servers: readonly ServerOutcome[],
  ) {
    super(
      'ERR_NOT_ENOUGH_SERVERS',
      `${what}. Servers tried: ${servers.length ? describe(servers) : 'none configured'}. Check that the servers are running (slotfs grid status) and reachable.`,
    );
    this.name = 'NotEnoughServersError';
  }
}

/** One version seen during a publish that we did not expect. */
export interface CollidingVersion {
  server: string;
  shareNumber: number;
  seqnum: number | null;
  rootHashHex: string | null;
}

/**
 * Another writer changed the file between our read and our write (a test-and-set failed,
 * or a share of an unexpected version turned up). Some shares may hold our version.
 */
export class UncoordinatedWriteError extends MutableError {
  constructor(
    readonly storageIndex: string,
    readonly collisions: readonly CollidingVersion[],
    readonly ourSeqnum: number,
    /** Root hash of the version we tried to publish, when some of it may be on the grid. */
    readonly ourRootHash?: Uint8Array,
  ) {
    const seen = collisions
      .map(
        (c) =>
          `${c.server} share ${c.shareNumber} holds ${c.seqnum === null ? 'an unreadable share' : `seqnum ${c.seqnum} (${c.rootHashHex?.slice(0, 8)}…)`}`,
      )
      .join('; ');
    super(
      'ERR_UNCOORDINATED_WRITE',
      `colliding write on ${storageIndex}: while publishing seqnum ${ourSeqnum}, ${seen}. Another writer changed the file; re-read it and apply the change again (modify() does this).`,
    );
    this.name = 'UncoordinatedWriteError';
  }
}

/** The grid offered only a version older than one this client has already verified. */
export class RollbackError extends MutableError {
  constructor(
    readonly storageIndex: string,
    readonly knownSeqnum: number,
    readonly offeredSeqnum: number,
    readonly servers: readonly string[],
  ) {
    super(
      'ERR_ROLLBACK',
      `rollback refused for ${storageIndex}: this client has verified seqnum ${knownSeqnum}, but the servers answering (${servers.join(', ')}) offer at most seqnum ${offeredSeqnum}. They may be stale or hostile; retry when more servers are reachable.`,
    );
    this.name = 'RollbackError';
  }
}

/** No recoverable version: not enough valid shares of any one version were found. */
export class UnrecoverableFileError extends MutableError {
  constructor(
    readonly storageIndex: string,
    detail: string,
    readonly servers: readonly ServerOutcome[],
  ) {
    super(
      'ERR_UNRECOVERABLE',
      `cannot read ${storageIndex}: ${detail}. Servers: ${servers.length ? describe(servers) : 'none'}.`,
    );
    this.name = 'UnrecoverableFileError';
  }
}

/** A write was asked of a cap that only allows reading. */
export class ReadOnlyCapError extends MutableError {
  constructor(what: string) {
    super(
      'ERR_READ_ONLY_CAP',
      `${what} needs a write cap (URI:SSK:… or URI:DIR2:…), but a read-only or verify cap was given`,
    );
    this.name = 'ReadOnlyCapError';
  }
}

/** An operation slotfs does only for SDMF files (colliding-write recovery). */
export class MdmfUnsupportedError extends MutableError {
  constructor(what: string) {
    super(
      'ERR_MDMF_UNSUPPORTED',
      `${what} is not supported for MDMF files (URI:MDMF:/URI:DIR2-MDMF:); read or update them instead`,
    );
    this.name = 'MdmfUnsupportedError';
  }
}

/**
 * A tahoe (RSA SDMF) file's encrypted private key could not be found or did not match the
 * write cap. Never thrown for an Ed25519 file: its write cap is the signing key.
 */
export class PrivateKeyUnavailableError extends MutableError {
  constructor(
    readonly storageIndex: string,
    detail: string,
  ) {
    super(
      'ERR_PRIVATE_KEY_UNAVAILABLE',
      `cannot modify ${storageIndex}: ${detail}. The file stays readable; it becomes modifiable again when a server holding a share with its key answers.`,
    );
    this.name = 'PrivateKeyUnavailableError';
  }
}

/** modify() gave up after repeated collisions. */
export class TooManyCollisionsError extends MutableError {
  constructor(
    readonly storageIndex: string,
    readonly attempts: number,
    cause: unknown,
  ) {
    super(
      'ERR_TOO_MANY_COLLISIONS',
      `gave up modifying ${storageIndex} after ${attempts} colliding writes; another writer keeps changing it`,
      { cause },
    );
    this.name = 'TooManyCollisionsError';
  }
}

/**
 * Colliding-write recovery (tahoe-formats.md §11.6) could not place N shares of any
 * version before its deadline: servers stayed missing, or other writers kept colliding.
 */
export class RecoveryFailedError extends MutableError {
  constructor(
    readonly storageIndex: string,
    readonly elapsedMs: number,
    detail: string,
    readonly servers: readonly ServerOutcome[],
    cause?: unknown,
  ) {
    super(
      'ERR_RECOVERY_FAILED',
      `recovery of ${storageIndex} gave up after ${Math.round(elapsedMs)} ms: ${detail}. Servers: ${servers.length ? describe(servers) : 'none'}. The file may hold several versions; run the operation again when the servers are back (or raise recoveryTimeoutMs).`,
      { cause },
    );
    this.name = 'RecoveryFailedError';
  }
}
