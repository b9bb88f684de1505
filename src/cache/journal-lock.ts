// The write-back journal belongs to one process at a time: a lock file in its directory
// names that process's pid.
import { unlinkSync } from 'node:fs';
import { readFile, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { alive } from '../grid/process-alive.js';
import { JournalError } from './journal-types.js';

const LOCK_FILE = 'slotfs.lock';
/** Journals open in this process (a second open of one is refused like another process's). */
const openHere = new Set<string>();

/**
 * Takes the journal for this process: a lock file naming our pid. One naming a process
 * that is gone (a killed mount) is taken over.
 */
export async function lock(where: string): Promise<void> {
  const path = join(where, LOCK_FILE);
  if (openHere.has(where)) throw locked(where, process.pid);
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      await writeFile(path, `${process.pid}\n`, { flag: 'wx' });
      openHere.add(where);
      return;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const pid = Number((await readFile(path, 'utf8').catch(() => '')).trim());
    if (pid > 0 && pid !== process.pid && alive(pid)) throw locked(where, pid);
    await unlink(path).catch(() => undefined);
  }
  throw locked(where, 0);
}

function locked(where: string, pid: number): JournalError {
  return new JournalError(
    'ERR_JOURNAL_LOCKED',
    `the write-back journal ${where} is in use by another slotfs process${pid ? ` (pid ${pid})` : ''}: is this client directory already mounted? If no slotfs runs, remove ${join(where, LOCK_FILE)}.`,
  );
}

export async function unlock(where: string): Promise<void> {
  openHere.delete(where);
  try {
    unlinkSync(join(where, LOCK_FILE));
  } catch {
    // already gone
  }
}
