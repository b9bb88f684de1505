// Starting and stopping one storage server: identity from its directory, the store, the
// HTTPS listener, node.url / node.json / server.pid.
import { readFileSync, promises as fs } from 'node:fs';
import path from 'node:path';
import { toBase32 } from '../encoding/base32.js';
import { buildStorageApp } from './http.js';
import { FILES, loadOrCreateIdentity, writeFileAtomic, writeNodeInfo } from './identity.js';
import { formatNurl, spkiHashFromCertificate } from './protocol.js';
import { ImmutableStore } from './immutable-store.js';
import { ShareStore } from './store.js';

export const DEFAULT_MAX_SHARE_SIZE = 64 * 1024 * 1024;
export const DEFAULT_MAX_BODY_SIZE = 128 * 1024 * 1024;

export interface ServerOptions {
  dir: string;
  /** Address to listen on and to put in the NURL (default 127.0.0.1). */
  host?: string;
  /** 0 = any free port; undefined = the previous start's port if free, else any. */
  port?: number;
  maxShareSize?: number;
  maxBodySize?: number;
  /** Advertise the slotfs extensions (default true); false = behave as plain Tahoe. */
  extensions?: boolean;
  /** Unexpected errors (default: one line on stderr). */
  onError?: (err: unknown) => void;
}

export interface RunningServer {
  /** The NURL clients use: pb://<spki>@host:port/<swissnum>#v=1 */
  url: string;
  port: number;
  host: string;
  nodeId: Uint8Array;
  permutationSeed: Uint8Array;
  dir: string;
  /** Stops accepting connections, lets in-flight requests finish, removes server.pid. */
  close(): Promise<void>;
}

export class ServerStartError extends Error {
  readonly code = 'ERR_STORAGE_START';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ServerStartError';
  }
}

function packageVersion(): string {
  try {
    const pkg = JSON.parse(
      readFileSync(new URL('../../package.json', import.meta.url), 'utf8'),
    ) as { version?: string };
    return pkg.version ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

export async function startServer(options: ServerOptions): Promise<RunningServer> {
  const dir = path.resolve(options.dir);
  const host = options.host ?? '127.0.0.1';
  const maxShareSize = options.maxShareSize ?? DEFAULT_MAX_SHARE_SIZE;
  const maxBodySize = options.maxBodySize ?? DEFAULT_MAX_BODY_SIZE;
  for (const [name, v] of [
    ['maxShareSize', maxShareSize],
    ['maxBodySize', maxBodySize],
  ] as const) {
    if (!Number.isSafeInteger(v) || v < 1) {
      throw new ServerStartError(`${name} must be a positive integer, got ${v}`);
    }
  }
  const identity = await loadOrCreateIdentity(dir);
  // A stale node.url must not be mistaken for this start's.
  await fs.rm(path.join(dir, FILES.nurl), { force: true });
  const store = new ShareStore(dir, { nodeId: identity.nodeId, maxShareSize });
  await store.init();
  // Immutable shares are bounded by the disk only (as in Tahoe): CHK shares of big files
  // are far larger than any mutable share.
  const immutable = new ImmutableStore(store, { maxShareSize: Number.MAX_SAFE_INTEGER });
  await immutable.init();

  const onError =
    options.onError ??
    ((err: unknown) =>
      console.error(`slotfs server: ${err instanceof Error ? (err.stack ?? err.message) : err}`));
  const app = buildStorageApp({
    store,
    immutable,
    swissnum: identity.swissnum,
    nodeId: identity.nodeId,
    permutationSeed: identity.permutationSeed,
    maxShareSize,
    maxBodySize,
    extensions: options.extensions ?? true,
    applicationVersion: `slotfs/${packageVersion()}`,
    tls: { key: identity.keyPem, cert: identity.certPem },
    onError,
  });

  const listen = (port: number) => app.listen({ host, port });
  try {
    if (options.port === undefined && identity.lastPort) {
      try {
        await listen(identity.lastPort);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw err;
        await listen(0);
      }
    } else {
      await listen(options.port ?? 0);
    }
  } catch (cause) {
    await app.close().catch(() => undefined);
    throw new ServerStartError(
      `cannot listen on ${host}:${options.port ?? identity.lastPort ?? 0}: ${(cause as Error).message}`,
      { cause },
    );
  }
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  const url = formatNurl({
    spkiHash: spkiHashFromCertificate(identity.certPem),
    host,
    port,
    swissnum: identity.swissnum,
  });
  try {
    await writeNodeInfo(dir, {
      nodeId: toBase32(identity.nodeId),
      permutationSeed: toBase32(identity.permutationSeed),
      nurl: url,
      host,
      port,
    });
    await writeFileAtomic(path.join(dir, FILES.pid), `${process.pid}\n`);
    await writeFileAtomic(path.join(dir, FILES.nurl), url + '\n', 0o600);
  } catch (err) {
    // A full disk must not keep the server from serving the shares it holds; the NURL is
    // still logged. Anything else is a real configuration problem.
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'ENOSPC' && code !== 'EDQUOT') {
      await app.close();
      throw err;
    }
    console.error(
      `slotfs server: warning: disk full (${code}); could not write ${FILES.nurl}/${FILES.info} in ${dir}`,
    );
  }

  let closing: Promise<void> | undefined;
  return {
    url,
    port,
    host,
    nodeId: identity.nodeId,
    permutationSeed: identity.permutationSeed,
    dir,
    close() {
      closing ??= (async () => {
        await app.close();
        await immutable.close();
        await store.close();
        await fs.rm(path.join(dir, FILES.pid), { force: true });
      })();
      return closing;
    },
  };
}
