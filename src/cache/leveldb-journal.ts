// The write-back journal as slotfs kept it before its own log (a LevelDB database in the
// client dir's `journal/`): read once, when a mount finds one, so the writes it holds move
// into the log (journal.ts) and are published like any other.
//
// Per dirty file (id): `m!ID` the metadata (JSON), `s!ID` the contents when the file
// became dirty (or at the last compaction), `o!ID!SEQ` the writes and truncates since, in
// order: a byte 'W'/'T' ('w'/'t': followed by the change's mtime, float64 ms), float64
// offset or size, and a write's data. Directory changes: `d!SEQ` (JSON), in order.
import { Level } from 'level';
import { JournalError, type JournalEntry, type JournalMeta } from './journal-types.js';
import { Replay } from './journal-replay.js';

type Bytes = Uint8Array;
const OP_WRITE = 0x57; // 'W'
const OP_TRUNCATE = 0x54; // 'T'
const OP_WRITE_AT = 0x77; // 'w'
const OP_TRUNCATE_AT = 0x74; // 't'

/** A LevelDB database is there (its CURRENT file names the manifest). */
export const LEVELDB_MARKER = 'CURRENT';

export interface LevelJournalContents {
  entries: JournalEntry[];
  changes: Array<{ id: string; change: unknown }>;
}

export async function readLevelJournal(location: string): Promise<LevelJournalContents> {
  const db = new Level<string, Bytes>(location, { valueEncoding: 'view' });
  try {
    await db.open();
  } catch (err) {
    const cause = (err as { cause?: { message?: string } }).cause;
    const detail = `${(err as Error).message} ${cause?.message ?? ''}`.trim();
    if (/lock/i.test(detail)) {
      throw new JournalError(
        'ERR_JOURNAL_LOCKED',
        `the write-back journal ${location} is in use by another slotfs process (is this client directory already mounted?)`,
        { cause: err },
      );
    }
    throw new JournalError(
      'ERR_JOURNAL_DAMAGED',
      `cannot open the write-back journal ${location} (the LevelDB format of earlier slotfs versions): ${detail}. It holds writes not yet published; move it aside only if you accept losing them.`,
      { cause: err },
    );
  }
  try {
    return { entries: await entries(db), changes: await changes(db) };
  } finally {
    await db.close();
  }
}

async function changes(db: Level<string, Bytes>): Promise<LevelJournalContents['changes']> {
  const out: LevelJournalContents['changes'] = [];
  for await (const [key, raw] of db.iterator({ gte: 'd!', lt: 'd"' })) {
    out.push({ id: key, change: parseJson(raw, `directory change ${key}`) });
  }
  return out;
}

async function entries(db: Level<string, Bytes>): Promise<JournalEntry[]> {
  const out: JournalEntry[] = [];
  for await (const [key, raw] of db.iterator({ gte: 'm!', lt: 'm"' })) {
    const id = key.slice(2);
    const meta = parseJson(raw, `entry ${id}`) as JournalMeta;
    const contents = new Replay((await db.get(`s!${id}`)) ?? new Uint8Array(0));
    let changedAt: number | undefined;
    for await (const [opKey, op] of db.iterator({ gt: `o!${id}!`, lt: `o!${id}"` })) {
      const view = new DataView(op.buffer, op.byteOffset, op.byteLength);
      const at = view.getFloat64(1);
      const timed = op[0] === OP_WRITE_AT || op[0] === OP_TRUNCATE_AT;
      const seq = Number(opKey.slice(opKey.lastIndexOf('!') + 1));
      if (timed && seq > (meta.afterOp ?? -Infinity)) changedAt = view.getFloat64(9);
      if (op[0] === OP_WRITE) contents.write(at, op.subarray(9));
      else if (op[0] === OP_WRITE_AT) contents.write(at, op.subarray(17));
      else if (op[0] === OP_TRUNCATE || op[0] === OP_TRUNCATE_AT) contents.truncate(at);
    }
    // Its own sequence numbers mean nothing in the log: the mtime is carried as changedAt.
    out.push({ id, meta: { ...meta, afterOp: undefined }, contents: contents.result(), changedAt });
  }
  return out;
}

function parseJson(raw: Bytes, what: string): unknown {
  try {
    return JSON.parse(new TextDecoder().decode(raw));
  } catch (err) {
    throw new JournalError(
      'ERR_JOURNAL_DAMAGED',
      `journal ${what} is damaged (${(err as Error).message})`,
      { cause: err },
    );
  }
}
