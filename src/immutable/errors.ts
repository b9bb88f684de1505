// Errors of immutable-file reads, with stable codes.

/** Too few good shares could be found; names every server and what it did. */
export class ImmutableReadError extends Error {
  readonly code = 'ERR_IMMUTABLE_NOT_ENOUGH_SHARES';
  constructor(
    readonly storageIndex: string,
    readonly needed: number,
    readonly found: number,
    readonly servers: ReadonlyArray<{ name: string; outcome: string }>,
  ) {
    super(
      `immutable file ${storageIndex}: ${found} good shares found, ${needed} needed. ` +
        servers.map((s) => `${s.name}: ${s.outcome}`).join('; '),
    );
    this.name = 'ImmutableReadError';
  }
}
