// Checksummed frames for append-only logs (the storage server's commit log, the mount's
// write-back journal): a frame either decodes whole or marks where a log's torn tail
// begins. Pure: bytes in, bytes out.
//
// Frame: 4-byte magic · u32 payload length (big-endian) · first 8 bytes of SHA-256(payload)
// · payload.
import { createHash } from 'node:crypto';

export const FRAME_HEADER = 4 + 4 + 8;

const digest8 = (payload: Uint8Array) =>
  createHash('sha256').update(payload).digest().subarray(0, 8);

/**
 * A frame of `size` payload bytes, which `fill` writes into `out` from FRAME_HEADER on
 * (so a record is built in its final buffer, not copied there).
 */
export function buildFrame(magic: Uint8Array, size: number, fill: (out: Buffer) => void): Buffer {
  const out = Buffer.allocUnsafe(FRAME_HEADER + size);
  out.set(magic.subarray(0, 4), 0);
  out.writeUInt32BE(size, 4);
  fill(out);
  digest8(out.subarray(FRAME_HEADER)).copy(out, 8);
  return out;
}

export interface Frame {
  /** Where the frame starts and ends in the log. */
  start: number;
  end: number;
  payload: Buffer;
}

/**
 * The whole frames at the start of `log`, in order, and where they end. Decoding stops at
 * the first frame that is short or has a bad magic or checksum: the torn tail of a write
 * that never completed.
 */
export function readFrames(
  log: Uint8Array,
  magic: Uint8Array,
): { frames: Frame[]; validBytes: number } {
  const buf = Buffer.from(log.buffer, log.byteOffset, log.byteLength);
  const tag = Buffer.from(magic.buffer, magic.byteOffset, 4);
  const frames: Frame[] = [];
  let at = 0;
  while (at + FRAME_HEADER <= buf.length) {
    if (!buf.subarray(at, at + 4).equals(tag)) break;
    const end = at + FRAME_HEADER + buf.readUInt32BE(at + 4);
    if (end > buf.length) break;
    const payload = buf.subarray(at + FRAME_HEADER, end);
    if (!digest8(payload).equals(buf.subarray(at + 8, at + 16))) break;
    frames.push({ start: at, end, payload });
    at = end;
  }
  return { frames, validBytes: at };
}
