// The client's root directory: its cap lives in <client dir>/private/root.cap (mode 0600).
// On first boot a new empty root dirnode is created and its cap stored; later boots reuse
// it. The file is the only way back to everything under the root, so it is written
// atomically and durably, and a damaged one is reported, never replaced.
import { randomBytes } from 'node:crypto';
import { link, open, readFile, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { parseCap } from '../caps/index.js';
import { DirectoryClient } from '../dirnode/directory.js';
import type { MutableClient } from '../mutable/mutable-client.js';
import { ClientDirError, type ClientDir } from './client-dir.js';

export const ROOT_CAP_FILE = join('private', 'root.cap');

export interface RootDirectory {
  /** The root directory's cap: a write cap (URI:DIR2:…), or a read cap if one was stored. */
  cap: string;
  /** Where it is kept. */
  path: string;
  /** True when this call created the root (first boot). */
  created: boolean;
}

/** Path of the root cap file of a client directory. */
export function rootCapPath(dir: Pick<ClientDir, 'dir'>): string {
  return join(dir.dir, ROOT_CAP_FILE);
}

/**
 * The stored root cap, or undefined if there is none yet. A file that exists but does not
 * hold one directory cap (URI:DIR2:… or URI:DIR2-RO:…) is a ClientDirError.
 */
export async function readRootCap(dir: Pick<ClientDir, 'dir'>): Promise<string | undefined> {
  const path = rootCapPath(dir);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new ClientDirError(path, `cannot read the root cap file: ${(err as Error).message}`, {
      cause: err,
    });
  }
  return checkRootCap(path, text);
}

function checkRootCap(path: string, text: string): string {
  const cap = text.trim();
  const damaged = (why: string, cause?: unknown) =>
    new ClientDirError(
      path,
      `the root cap file is damaged (${why}). It is the only way to the files under the root: restore it from a backup (one line, URI:DIR2:…), or move it away to start with a new, empty root`,
      { cause },
    );
  if (cap === '') throw damaged('it is empty');
  if (/\s/.test(cap)) throw damaged('it holds more than one line or word');
  let parsed;
  try {
    parsed = parseCap(cap);
  } catch (err) {
    // The cap error names the field at fault; the cap itself is a secret and is not shown.
    throw damaged(`not a valid cap: ${(err as Error).message}`, err);
  }
  if (!parsed.directory) throw damaged('it holds a file cap, not a directory cap');
  if (parsed.kind !== 'ssk-write' && parsed.kind !== 'ssk-read') {
    throw damaged('it holds a cap that cannot read a mutable directory');
  }
  return cap;
}

/**
 * The client's root directory: reads private/root.cap, or on first boot creates a new
 * empty directory on the grid and stores its write cap there (mode 0600). If two
 * processes boot for the first time at once, both end up with the cap stored first.
 */
export async function openRoot(opened: {
  dir: Pick<ClientDir, 'dir'>;
  client: MutableClient;
}): Promise<RootDirectory> {
  const path = rootCapPath(opened.dir);
  const existing = await readRootCap(opened.dir);
  if (existing) return { cap: existing, path, created: false };
  const cap = await new DirectoryClient(opened.client).createDirectory();
  const stored = await storeNew(path, cap);
  return { cap: stored, path, created: stored === cap };
}

/**
 * Writes the cap to a temporary file, syncs it, then links it into place — link() never
 * replaces, so a cap stored meanwhile by another process wins and is returned instead.
 */
async function storeNew(path: string, cap: string): Promise<string> {
  const temporary = `${path}.${process.pid}-${randomBytes(4).toString('hex')}.tmp`;
  try {
    const file = await open(temporary, 'wx', 0o600);
    try {
      await file.writeFile(cap + '\n');
      await file.sync();
    } finally {
      await file.close();
    }
    try {
      await link(temporary, path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      return checkRootCap(path, await readFile(path, 'utf8'));
    }
    await syncDirectory(join(path, '..'));
    return cap;
  } catch (err) {
    if (err instanceof ClientDirError) throw err;
    throw new ClientDirError(path, `cannot store the root cap: ${(err as Error).message}`, {
      cause: err,
    });
  } finally {
    await unlink(temporary).catch(() => undefined);
  }
}

async function syncDirectory(path: string): Promise<void> {
  const dir = await open(path, 'r');
  try {
    await dir.sync();
  } finally {
    await dir.close();
  }
}
