// A stale server's view of one slot: a copy of its shares taken at some moment (a
// snapshot), on which later calls are answered with the §9.2 rules — tests, reads before
// writes, writes in order with zero fill, new length, new length 0 deleting. Writes made
// while stale land in the copy, as they would on a server restored from an old backup.
// The write enabler is not checked: the real server checked it when the shares were made.
import { concatBytes, equalBytes } from '../../encoding/bytes.js';
import type { ReadTestWriteResponse, ReadVector, TestWriteVectors } from '../storage-client.js';

export class StaleSlot {
  constructor(readonly shares: Map<number, Uint8Array>) {}

  list(): number[] {
    return [...this.shares.keys()].sort((a, b) => a - b);
  }

  read(shareNumber: number, offset: number, length: number): Uint8Array | null {
    const data = this.shares.get(shareNumber);
    return data ? data.slice(offset, offset + length) : null;
  }

  readTestWrite(
    testWriteVectors: ReadonlyMap<number, TestWriteVectors>,
    readVector: readonly ReadVector[],
  ): ReadTestWriteResponse {
    let success = true;
    for (const [shnum, v] of testWriteVectors) {
      const data = this.shares.get(shnum) ?? new Uint8Array(0);
      for (const t of v.test) {
        if (!equalBytes(data.subarray(t.offset, t.offset + t.size), t.specimen)) success = false;
      }
    }
    const data = new Map<number, Uint8Array[]>();
    for (const shnum of this.list()) {
      const share = this.shares.get(shnum)!;
      data.set(
        shnum,
        readVector.map((r) => {
          const start = r.offset < 0 ? share.length + r.offset : r.offset;
          return share.slice(Math.max(0, start), Math.max(0, start + r.size));
        }),
      );
    }
    if (!success) return { success, data };
    for (const [shnum, v] of testWriteVectors) {
      if (v.newLength === 0) {
        this.shares.delete(shnum);
        continue;
      }
      let bytes = this.shares.get(shnum) ?? new Uint8Array(0);
      for (const w of v.write) {
        const end = Math.max(bytes.length, w.offset + w.data.length);
        bytes =
          end > bytes.length
            ? concatBytes(bytes, new Uint8Array(end - bytes.length))
            : bytes.slice();
        bytes.set(w.data, w.offset);
      }
      if (v.newLength !== null && v.newLength < bytes.length) bytes = bytes.slice(0, v.newLength);
      this.shares.set(shnum, bytes);
    }
    return { success, data };
  }
}
