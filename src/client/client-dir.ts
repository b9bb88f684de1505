// The client directory (default ~/.slotfs): config.toml, the lease secret, the LevelDB
// cache. Created on first use; a missing or malformed piece gets an error that names the
// file and says how to fix it, before anything touches the grid.
import { chmod, mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import { parse as parseToml, stringify as stringifyToml } from 'smol-toml';
import { z } from 'zod';
import { fromBase32, toBase32 } from '../encoding/base32.js';

export const DEFAULT_CLIENT_DIR = join(homedir(), '.slotfs');

const configSchema = z
  .object({
    /** servers.yaml written by `slotfs grid up` (relative paths: to the client dir). */
    'servers-file': z.string().min(1),
    /**
     * Format of new files and directories: "ed25519" (slotfs's own, fast keys; Tahoe
     * clients cannot read it) or "tahoe" (RSA SDMF, readable by Tahoe-LAFS). Existing files
     * keep their own format.
     */
    format: z.enum(['ed25519', 'tahoe']).default('ed25519'),
    k: z.number().int().min(1).max(255).default(3),
    n: z.number().int().min(1).max(255).default(10),
    happy: z.number().int().min(1).max(255).default(7),
    epsilon: z.number().int().min(0).max(255).default(2),
    'cache-max-bytes': z
      .number()
      .int()
      .min(0)
      .default(64 * 1024 * 1024),
    /**
     * RSA keys generated ahead and kept in private/keys, for format = "tahoe" (Ed25519 keys
     * need no pool): a burst of this many new files costs no key generation.
     */
    'key-pool-size': z.number().int().min(0).max(64).default(12),
    /** Server (base32 node id or name) that keeps the extra N+1th share; default: the first that answers. */
    'home-server': z.string().min(1).optional(),
    timeouts: z
      .object({
        'connect-ms': z.number().int().positive().default(5000),
        'request-ms': z.number().int().positive().default(20000),
      })
      .strict()
      .prefault({}),
    /** `slotfs mount` (src/fs): caching, write-back and conflict policy. */
    mount: z
      .object({
        /** Directory listings fetched from the grid are trusted this long (like NFS acdir). */
        'dir-cache-ms': z.number().int().min(0).default(3000),
        /** A closed file's contents and attributes are trusted this long (like NFS acreg). */
        'attr-cache-ms': z.number().int().min(0).default(3000),
        /** The kernel's entry/attribute cache (FUSE entry_timeout/attr_timeout). */
        'kernel-cache-ms': z.number().int().min(0).default(1000),
        /** Dirty files are published after this much idle time (and on close/fsync). */
        'write-back-ms': z.number().int().min(0).default(1000),
        /** Colliding writes: keep ours as a conflict copy, or overwrite the other writer. */
        conflicts: z.enum(['copy', 'last-writer-wins']).default('copy'),
        'max-conflict-copies': z.number().int().min(1).max(1000).default(10),
        /** Label in conflict copy names (default: derived from the lease secret). */
        'client-name': z.string().min(1).max(64).optional(),
        /** Any file operation waiting on the grid longer than this fails with EIO. */
        'op-timeout-ms': z.number().int().positive().default(30000),
        /** Files published at once (write-back is latency-bound: servers wait on fsync). */
        'publish-concurrency': z.number().int().min(1).max(256).default(64),
        /** Changes to one directory within this window are published together. */
        'dir-batch-ms': z.number().int().min(0).default(100),
        /** Other users may use the mount (FUSE allow_other; file modes still apply). */
        'allow-other': z.boolean().default(false),
      })
      .strict()
      .prefault({}),
  })
  .strict()
  .refine((c) => c.k <= c.n, { message: 'k must not exceed n' });

export type ClientConfig = z.infer<typeof configSchema>;

export class ClientDirError extends Error {
  readonly code = 'ERR_CLIENT_DIR';
  constructor(
    readonly path: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(`${path}: ${message}`, options);
    this.name = 'ClientDirError';
  }
}

export interface ClientDir {
  dir: string;
  config: ClientConfig;
  /** Absolute path of the servers file. */
  serversFile: string;
  leaseSecret: Uint8Array;
  cachePath: string;
}

export interface OpenClientDirOptions {
  /** Servers file to record when creating the directory (default ./grid/servers.yaml). */
  serversFile?: string;
}

/** Opens the client directory, creating it (config, lease secret) on first use. */
export async function openClientDir(
  dir: string = DEFAULT_CLIENT_DIR,
  options: OpenClientDirOptions = {},
): Promise<ClientDir> {
  dir = resolve(dir);
  const configPath = join(dir, 'config.toml');
  if (!(await exists(configPath))) {
    const servers = resolve(options.serversFile ?? join('grid', 'servers.yaml'));
    try {
      await mkdir(join(dir, 'private'), { recursive: true, mode: 0o700 });
      await writeFile(
        configPath,
        `# slotfs client configuration\n${stringifyToml({ 'servers-file': servers })}\n` +
          '# new files and directories: "ed25519" (fast; slotfs only) or "tahoe" (RSA SDMF, Tahoe-LAFS reads it)\n' +
          'format = "ed25519"\n',
        { flag: 'wx' },
      );
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') {
        throw new ClientDirError(
          dir,
          `cannot create the client directory: ${(err as Error).message}`,
          {
            cause: err,
          },
        );
      }
    }
  }
  const config = await readConfig(configPath);
  const serversFile = isAbsolute(config['servers-file'])
    ? config['servers-file']
    : resolve(dir, config['servers-file']);
  return {
    dir,
    config,
    serversFile: options.serversFile ? resolve(options.serversFile) : serversFile,
    leaseSecret: await leaseSecret(join(dir, 'private', 'lease-secret')),
    cachePath: join(dir, 'cache'),
  };
}

async function readConfig(path: string): Promise<ClientConfig> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new ClientDirError(path, `cannot read the config file: ${(err as Error).message}`, {
      cause: err,
    });
  }
  let raw: unknown;
  try {
    raw = parseToml(text);
  } catch (err) {
    throw new ClientDirError(path, `is not valid TOML: ${(err as Error).message}`, { cause: err });
  }
  const parsed = configSchema.safeParse(raw);
  if (!parsed.success) {
    const problems = parsed.error.issues
      .map((i) => `${i.path.join('.') || '(top level)'}: ${i.message}`)
      .join('; ');
    throw new ClientDirError(path, `invalid configuration: ${problems}`);
  }
  return parsed.data;
}

/** The client's 32-byte lease secret, created (mode 0600) on first use. */
async function leaseSecret(path: string): Promise<Uint8Array> {
  try {
    const text = (await readFile(path, 'utf8')).trim();
    const bytes = fromBase32(text);
    if (bytes.length !== 32) throw new Error(`expected 32 bytes, found ${bytes.length}`);
    return bytes;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
      throw new ClientDirError(
        path,
        `the lease secret is damaged (${(err as Error).message}); restore it from a backup, or delete it to make a new one (leases renew under the new secret)`,
        { cause: err },
      );
    }
  }
  const secret = new Uint8Array(randomBytes(32));
  try {
    await mkdir(dirname(path), { recursive: true, mode: 0o700 });
    await writeFile(path, toBase32(secret) + '\n', { mode: 0o600, flag: 'wx' });
    await chmod(path, 0o600);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return leaseSecret(path);
    throw new ClientDirError(path, `cannot write the lease secret: ${(err as Error).message}`, {
      cause: err,
    });
  }
  return secret;
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}
