// Typed errors of the storage client. Every error a caller can see from a StorageClient
// is a StorageClientError with a stable `code` and the server it concerns, so higher
// layers (servermap, publish) can mark that server bad and name it in their own errors.
import { toBase32 } from '../encoding/base32.js';

/** The catalogue of codes a StorageClient raises, with what each means. */
export const STORAGE_CLIENT_ERROR_CODES = {
  ERR_SERVER_UNREACHABLE: 'the TCP/TLS connection could not be made or was dropped',
  ERR_SERVER_TIMEOUT: 'connect, response headers or response body took longer than allowed',
  ERR_SERVER_TLS_PIN: "the server's certificate does not match the SPKI hash in its NURL",
  ERR_SERVER_HTTP_STATUS: 'the server answered with an unexpected HTTP status',
  ERR_SERVER_BAD_RESPONSE: 'the response body or headers break the protocol (CBOR, schema, length)',
  ERR_SERVER_UNAUTHORIZED: 'the server refused the swissnum (401 outside read-test-write)',
  ERR_WRITE_ENABLER: 'the slot on this server was written with another write enabler',
  ERR_SERVER_UNSUPPORTED: 'the request needs a protocol extension this server does not advertise',
  ERR_REQUEST_ABORTED: "the caller's AbortSignal cancelled the request",
  ERR_STORAGE_CLIENT_ARGUMENT: 'the caller passed an invalid argument (nothing was sent)',
  ERR_STORAGE_CLIENT_CLOSED: 'the client was closed before this call',
} as const;

export type StorageClientErrorCode = keyof typeof STORAGE_CLIENT_ERROR_CODES;

/** Which server an error concerns; `id` is the 20-byte node id. */
export interface ServerRef {
  readonly serverId: Uint8Array;
  readonly name: string;
}

export class StorageClientError extends Error {
  /** base32 of the 20-byte node id, convenient for messages and logs. */
  readonly serverIdBase32: string;
  readonly serverId: Uint8Array;
  readonly serverName: string;

  constructor(
    readonly code: StorageClientErrorCode,
    server: ServerRef,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(`storage server ${server.name}: ${message}`, options);
    this.name = 'StorageClientError';
    this.serverId = server.serverId;
    this.serverName = server.name;
    this.serverIdBase32 = toBase32(server.serverId);
  }
}

export class ServerUnreachableError extends StorageClientError {
  constructor(server: ServerRef, message: string, options?: { cause?: unknown }) {
    super('ERR_SERVER_UNREACHABLE', server, message, options);
    this.name = 'ServerUnreachableError';
  }
}

export type TimeoutPhase = 'connect' | 'headers' | 'body';

export class ServerTimeoutError extends StorageClientError {
  constructor(
    server: ServerRef,
    readonly phase: TimeoutPhase,
    readonly timeoutMs: number,
    options?: { cause?: unknown },
  ) {
    super(
      'ERR_SERVER_TIMEOUT',
      server,
      `no ${phase === 'connect' ? 'connection' : `response ${phase}`} within ${timeoutMs} ms; ` +
        'the server is overloaded or unreachable (raise the timeout if this is expected)',
      options,
    );
    this.name = 'ServerTimeoutError';
  }
}

export class ServerTlsPinError extends StorageClientError {
  constructor(
    server: ServerRef,
    readonly expectedSpkiHash: string,
    readonly actualSpkiHash: string | null,
  ) {
    super(
      'ERR_SERVER_TLS_PIN',
      server,
      `TLS certificate refused: its SPKI hash is ${actualSpkiHash ?? '(no certificate)'} but the ` +
        `NURL pins ${expectedSpkiHash}; another process may be listening on that port, or the ` +
        'server was re-created (update servers.yaml)',
    );
    this.name = 'ServerTlsPinError';
  }
}

export class ServerHttpStatusError extends StorageClientError {
  constructor(
    server: ServerRef,
    readonly status: number,
    readonly endpoint: string,
    readonly bodyExcerpt: string,
  ) {
    super(
      'ERR_SERVER_HTTP_STATUS',
      server,
      `unexpected HTTP ${status} from ${endpoint}${bodyExcerpt ? `: ${bodyExcerpt}` : ''}`,
    );
    this.name = 'ServerHttpStatusError';
  }
}

export class ServerBadResponseError extends StorageClientError {
  constructor(
    server: ServerRef,
    readonly endpoint: string,
    detail: string,
    options?: { cause?: unknown },
  ) {
    super(
      'ERR_SERVER_BAD_RESPONSE',
      server,
      `malformed response from ${endpoint}: ${detail}`,
      options,
    );
    this.name = 'ServerBadResponseError';
  }
}

export class ServerUnauthorizedError extends StorageClientError {
  constructor(server: ServerRef, endpoint: string) {
    super(
      'ERR_SERVER_UNAUTHORIZED',
      server,
      `${endpoint} answered 401: the swissnum in the NURL is not accepted (stale servers.yaml?)`,
    );
    this.name = 'ServerUnauthorizedError';
  }
}

export class WriteEnablerError extends StorageClientError {
  constructor(
    server: ServerRef,
    readonly storageIndex: string,
  ) {
    super(
      'ERR_WRITE_ENABLER',
      server,
      `slot ${storageIndex} refused the write enabler: its shares were written with another ` +
        'write key (or by a server with another node id); nothing was read or written',
    );
    this.name = 'WriteEnablerError';
  }
}

export class ServerUnsupportedError extends StorageClientError {
  constructor(
    server: ServerRef,
    readonly feature: string,
  ) {
    super(
      'ERR_SERVER_UNSUPPORTED',
      server,
      `the server does not advertise ${feature}; check supportsReadFromEnd before using it`,
    );
    this.name = 'ServerUnsupportedError';
  }
}

export class RequestAbortedError extends StorageClientError {
  constructor(server: ServerRef, endpoint: string, options?: { cause?: unknown }) {
    super('ERR_REQUEST_ABORTED', server, `${endpoint} was cancelled by the caller`, options);
    this.name = 'RequestAbortedError';
  }
}

export class StorageClientArgumentError extends StorageClientError {
  constructor(server: ServerRef, message: string) {
    super('ERR_STORAGE_CLIENT_ARGUMENT', server, message);
    this.name = 'StorageClientArgumentError';
  }
}

export class StorageClientClosedError extends StorageClientError {
  constructor(server: ServerRef) {
    super('ERR_STORAGE_CLIENT_CLOSED', server, 'this client has been closed; open a new one');
    this.name = 'StorageClientClosedError';
  }
}
