// A journaled file's contents rebuilt from its snapshot and the writes and truncates after it.

/** Applies journaled operations to a snapshot. */
export class Replay {
  private bytes: Uint8Array;
  private length: number;
  constructor(snapshot: Uint8Array) {
    this.bytes = new Uint8Array(snapshot);
    this.length = snapshot.length;
  }
  write(offset: number, data: Uint8Array): void {
    this.ensure(offset + data.length);
    if (offset > this.length) this.bytes.fill(0, this.length, offset);
    this.bytes.set(data, offset);
    this.length = Math.max(this.length, offset + data.length);
  }
  truncate(size: number): void {
    this.ensure(size);
    if (size > this.length) this.bytes.fill(0, this.length, size);
    this.length = size;
  }
  result(): Uint8Array {
    return this.bytes.slice(0, this.length);
  }
  private ensure(size: number): void {
    if (size <= this.bytes.length) return;
    const next = new Uint8Array(Math.max(size, this.bytes.length * 2));
    next.set(this.bytes.subarray(0, this.length));
    this.bytes = next;
  }
}
