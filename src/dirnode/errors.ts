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
