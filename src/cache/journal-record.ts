// One record of the write-back journal's log (docs/formats.md, "The mount's write-back
// journal"). Pure: bytes in, bytes out.
//
// Payload: u8 kind · f64 seq · u16 id length · id (UTF-8) · the kind's fields:
//   B begin     u32 meta length · meta (JSON) · snapshot
//   M meta      meta (JSON)
//   W write     f64 offset · f64 mtime (NaN: none) · data
//   T truncate  f64 size · f64 mtime (NaN: none)
//   S snapshot  f64 upTo · u32 meta length (0: none) · meta · snapshot   (a compaction)
//   X clear     —
//   D change    change (JSON)                                            (id: the change's)
//   Y change cleared —
import { buildFrame, FRAME_HEADER, readFrames } from '../encoding/checked-frames.js';

export const JOURNAL_MAGIC = Buffer.from('SLJ1');

export type JournalRecord =
  | { kind: 'begin'; seq: number; id: string; meta: Uint8Array; snapshot: Uint8Array }
  | { kind: 'meta'; seq: number; id: string; meta: Uint8Array }
  | { kind: 'write'; seq: number; id: string; offset: number; mtime?: number; data: Uint8Array }
  | { kind: 'truncate'; seq: number; id: string; size: number; mtime?: number }
  | {
      kind: 'snapshot';
      seq: number;
      id: string;
      upTo: number;
      meta?: Uint8Array;
      snapshot: Uint8Array;
    }
  | { kind: 'clear'; seq: number; id: string }
  | { kind: 'change'; seq: number; id: string; change: Uint8Array }
  | { kind: 'change-cleared'; seq: number; id: string };

const CODE = {
  begin: 0x42,
  meta: 0x4d,
  write: 0x57,
  truncate: 0x54,
  snapshot: 0x53,
  clear: 0x58,
  change: 0x44,
  'change-cleared': 0x59,
} as const;

/** The record, framed, ready to append. */
export function encodeJournalRecord(r: JournalRecord): Buffer {
  const id = Buffer.from(r.id, 'utf8');
  const head = 1 + 8 + 2 + id.length;
  let size = head;
  switch (r.kind) {
    case 'begin':
      size += 4 + r.meta.length + r.snapshot.length;
      break;
    case 'meta':
      size += r.meta.length;
      break;
    case 'write':
      size += 16 + r.data.length;
      break;
    case 'truncate':
      size += 16;
      break;
    case 'snapshot':
      size += 8 + 4 + (r.meta?.length ?? 0) + r.snapshot.length;
      break;
    case 'change':
      size += r.change.length;
      break;
  }
  return buildFrame(JOURNAL_MAGIC, size, (out) => {
    let o = FRAME_HEADER;
    o = out.writeUInt8(CODE[r.kind], o);
    o = out.writeDoubleBE(r.seq, o);
    o = out.writeUInt16BE(id.length, o);
    o += id.copy(out, o);
    const put = (bytes: Uint8Array) => {
      out.set(bytes, o);
      o += bytes.length;
    };
    switch (r.kind) {
      case 'begin':
        o = out.writeUInt32BE(r.meta.length, o);
        put(r.meta);
        put(r.snapshot);
        break;
      case 'meta':
        put(r.meta);
        break;
      case 'write':
        o = out.writeDoubleBE(r.offset, o);
        o = out.writeDoubleBE(r.mtime ?? NaN, o);
        put(r.data);
        break;
      case 'truncate':
        o = out.writeDoubleBE(r.size, o);
        o = out.writeDoubleBE(r.mtime ?? NaN, o);
        break;
      case 'snapshot':
        o = out.writeDoubleBE(r.upTo, o);
        o = out.writeUInt32BE(r.meta?.length ?? 0, o);
        if (r.meta) put(r.meta);
        put(r.snapshot);
        break;
      case 'change':
        put(r.change);
        break;
    }
  });
}

export interface DecodedRecord {
  record: JournalRecord;
  /** Where its frame starts and ends in the log. */
  start: number;
  end: number;
}

/**
 * The whole records at the start of `log` and where they end: decoding stops at the first
 * frame that is torn, fails its checksum or does not parse.
 */
export function decodeJournalRecords(log: Uint8Array): {
  records: DecodedRecord[];
  validBytes: number;
} {
  const records: DecodedRecord[] = [];
  let validBytes = 0;
  for (const frame of readFrames(log, JOURNAL_MAGIC).frames) {
    const record = parse(frame.payload);
    if (!record) break;
    records.push({ record, start: frame.start, end: frame.end });
    validBytes = frame.end;
  }
  return { records, validBytes };
}

const timeOf = (t: number) => (Number.isNaN(t) ? undefined : t);

function parse(p: Buffer): JournalRecord | undefined {
  if (p.length < 11) return undefined;
  const code = p[0];
  const seq = p.readDoubleBE(1);
  const idEnd = 11 + p.readUInt16BE(9);
  if (idEnd > p.length) return undefined;
  const id = p.toString('utf8', 11, idEnd);
  const rest = p.subarray(idEnd);
  const fixed = (n: number) => rest.length >= n;
  switch (code) {
    case CODE.begin: {
      if (!fixed(4)) return undefined;
      const metaEnd = 4 + rest.readUInt32BE(0);
      if (metaEnd > rest.length) return undefined;
      return {
        kind: 'begin',
        seq,
        id,
        meta: rest.subarray(4, metaEnd),
        snapshot: rest.subarray(metaEnd),
      };
    }
    case CODE.meta:
      return { kind: 'meta', seq, id, meta: rest };
    case CODE.write:
      if (!fixed(16)) return undefined;
      return {
        kind: 'write',
        seq,
        id,
        offset: rest.readDoubleBE(0),
        mtime: timeOf(rest.readDoubleBE(8)),
        data: rest.subarray(16),
      };
    case CODE.truncate:
      if (rest.length !== 16) return undefined;
      return {
        kind: 'truncate',
        seq,
        id,
        size: rest.readDoubleBE(0),
        mtime: timeOf(rest.readDoubleBE(8)),
      };
    case CODE.snapshot: {
      if (!fixed(12)) return undefined;
      const metaLength = rest.readUInt32BE(8);
      if (12 + metaLength > rest.length) return undefined;
      return {
        kind: 'snapshot',
        seq,
        id,
        upTo: rest.readDoubleBE(0),
        meta: metaLength ? rest.subarray(12, 12 + metaLength) : undefined,
        snapshot: rest.subarray(12 + metaLength),
      };
    }
    case CODE.clear:
      return rest.length === 0 ? { kind: 'clear', seq, id } : undefined;
    case CODE.change:
      return { kind: 'change', seq, id, change: rest };
    case CODE['change-cleared']:
      return rest.length === 0 ? { kind: 'change-cleared', seq, id } : undefined;
    default:
      return undefined;
  }
}
