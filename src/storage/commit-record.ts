// One record of the commit log: the changes one request makes to the share files of one
// storage index, as byte-level edits that can be applied again and again with the same
// result (so replaying a log over files that already hold some of it is harmless).
// Pure: bytes in, bytes out.
//
// Framing: "SLC1" · u32 payload length · first 8 bytes of SHA-256(payload) · payload.
// Payload: u8 SI length · SI (ASCII) · u16 edit count · edits, each
//   u32 share number · u8 kind (0 delete, 1 whole file, 2 ranges) ·
//   whole: u48 length · bytes | ranges: u48 final size · u32 count · (u48 offset · u32 length · bytes)*
import { buildFrame, FRAME_HEADER, readFrames } from '../encoding/checked-frames.js';

const MAGIC = Buffer.from('SLC1');

export type ShareEdit =
  | { shnum: number; kind: 'delete' }
  | { shnum: number; kind: 'whole'; bytes: Uint8Array }
  | {
      shnum: number;
      kind: 'ranges';
      size: number;
      ranges: Array<{ offset: number; bytes: Uint8Array }>;
    };

export interface CommitRecord {
  si: string;
  edits: ShareEdit[];
}

/** Sizes of the pieces, so the buffer is allocated once. */
function payloadSize(record: CommitRecord): number {
  let n = 1 + record.si.length + 2;
  for (const e of record.edits) {
    n += 5;
    if (e.kind === 'whole') n += 6 + e.bytes.length;
    else if (e.kind === 'ranges') {
      n += 6 + 4;
      for (const r of e.ranges) n += 6 + 4 + r.bytes.length;
    }
  }
  return n;
}

export function encodeRecord(record: CommitRecord): Buffer {
  return buildFrame(MAGIC, payloadSize(record), (out) => {
    let o = FRAME_HEADER;
    o = out.writeUInt8(record.si.length, o);
    o += out.write(record.si, o, 'latin1');
    o = out.writeUInt16BE(record.edits.length, o);
    for (const e of record.edits) {
      o = out.writeUInt32BE(e.shnum, o);
      o = out.writeUInt8(e.kind === 'delete' ? 0 : e.kind === 'whole' ? 1 : 2, o);
      if (e.kind === 'whole') {
        o = out.writeUIntBE(e.bytes.length, o, 6);
        out.set(e.bytes, o);
        o += e.bytes.length;
      } else if (e.kind === 'ranges') {
        o = out.writeUIntBE(e.size, o, 6);
        o = out.writeUInt32BE(e.ranges.length, o);
        for (const r of e.ranges) {
          o = out.writeUIntBE(r.offset, o, 6);
          o = out.writeUInt32BE(r.bytes.length, o);
          out.set(r.bytes, o);
          o += r.bytes.length;
        }
      }
    }
  });
}

/**
 * The whole records at the start of `log`, in order, and where they end. Decoding stops at
 * the first frame that is short, has a bad magic or a bad checksum: that is the torn tail
 * of a batch whose fdatasync never completed, so nothing in it was acknowledged.
 */
export function decodeRecords(log: Uint8Array): { records: CommitRecord[]; validBytes: number } {
  const { frames } = readFrames(log, MAGIC);
  const records: CommitRecord[] = [];
  let validBytes = 0;
  for (const frame of frames) {
    const record = parsePayload(frame.payload);
    if (!record) break;
    records.push(record);
    validBytes = frame.end;
  }
  return { records, validBytes };
}

function parsePayload(p: Buffer): CommitRecord | undefined {
  try {
    let o = 0;
    const siLength = p.readUInt8(o++);
    const si = p.toString('latin1', o, o + siLength);
    o += siLength;
    const count = p.readUInt16BE(o);
    o += 2;
    const edits: ShareEdit[] = [];
    for (let i = 0; i < count; i++) {
      const shnum = p.readUInt32BE(o);
      const kind = p.readUInt8(o + 4);
      o += 5;
      if (kind === 0) edits.push({ shnum, kind: 'delete' });
      else if (kind === 1) {
        const length = p.readUIntBE(o, 6);
        o += 6;
        edits.push({ shnum, kind: 'whole', bytes: take(p, o, length) });
        o += length;
      } else if (kind === 2) {
        const size = p.readUIntBE(o, 6);
        const n = p.readUInt32BE(o + 6);
        o += 10;
        const ranges: Array<{ offset: number; bytes: Uint8Array }> = [];
        for (let j = 0; j < n; j++) {
          const offset = p.readUIntBE(o, 6);
          const length = p.readUInt32BE(o + 6);
          o += 10;
          ranges.push({ offset, bytes: take(p, o, length) });
          o += length;
        }
        edits.push({ shnum, kind: 'ranges', size, ranges });
      } else return undefined;
    }
    return o === p.length ? { si, edits } : undefined;
  } catch {
    return undefined; // a length pointing past the end: not a record we wrote
  }
}

function take(p: Buffer, start: number, length: number): Uint8Array {
  if (start + length > p.length) throw new RangeError('past the end');
  return p.subarray(start, start + length);
}

/** Changed bytes are found in blocks of this size; nearby changes share one range. */
const BLOCK = 64;
/** Unchanged stretches are skipped this many bytes at a time (a multiple of BLOCK). */
const SPAN = 64 * BLOCK;

/**
 * The edit that turns file bytes `before` into `after`: the changed ranges (in 64-byte
 * blocks), or the whole file when that is about as small or there was no file.
 */
export function editBetween(
  shnum: number,
  before: Uint8Array | undefined,
  after: Uint8Array,
): ShareEdit {
  if (!before) return { shnum, kind: 'whole', bytes: after };
  const a = Buffer.from(before.buffer, before.byteOffset, before.byteLength);
  const b = Buffer.from(after.buffer, after.byteOffset, after.byteLength);
  const whole: ShareEdit = { shnum, kind: 'whole', bytes: after };
  const ranges: Array<{ offset: number; bytes: Uint8Array }> = [];
  let changed = 0;
  let start = -1;
  const common = Math.min(a.length, b.length);
  // Bytes past the common length are changed whatever the rest does.
  const grown = b.length - common;
  // (Buffer#compare on ranges: no subarray objects per block.)
  const same = (from: number, to: number) => a.compare(b, from, to, from, to) === 0;
  for (let o = 0; o < common;) {
    // Outside a changed range, unchanged stretches are skipped a span at a time.
    if (start < 0 && o + SPAN <= common && same(o, o + SPAN)) {
      o += SPAN;
      continue;
    }
    const end = Math.min(o + BLOCK, common);
    const equal = same(o, end);
    if (!equal && start < 0) start = o;
    if (equal && start >= 0) {
      ranges.push({ offset: start, bytes: b.subarray(start, o) });
      changed += o - start;
      start = -1;
    }
    o = end;
    // Already at least half changed: the whole file it is (as it would be at the end).
    if ((changed + (start >= 0 ? o - start : 0) + grown) * 2 >= b.length) return whole;
  }
  if (start >= 0 || b.length > a.length) {
    const from = start >= 0 ? start : common;
    ranges.push({ offset: from, bytes: b.subarray(from) });
    changed += b.length - from;
  }
  if (changed * 2 >= b.length) return whole;
  return { shnum, kind: 'ranges', size: b.length, ranges };
}
