// The contents of one open file, in memory: SDMF files are read and written whole, so an
// open file is one growable byte array that reads and writes of every handle share.

export class FileBuffer {
  private bytes: Uint8Array;
  private length: number;

  constructor(initial: Uint8Array = new Uint8Array(0)) {
    this.bytes = new Uint8Array(Math.max(initial.length, 64));
    this.bytes.set(initial);
    this.length = initial.length;
  }

  get size(): number {
    return this.length;
  }

  /** Copies up to `length` bytes from `offset` into `target`; returns how many. */
  readInto(target: Uint8Array, offset: number, length: number): number {
    if (offset >= this.length) return 0;
    const n = Math.min(length, this.length - offset, target.length);
    target.set(this.bytes.subarray(offset, offset + n));
    return n;
  }

  /** Writes `data` at `offset`, zero-filling any gap after the current end. */
  write(offset: number, data: Uint8Array): void {
    const end = offset + data.length;
    this.reserve(end);
    if (offset > this.length) this.bytes.fill(0, this.length, offset);
    this.bytes.set(data, offset);
    if (end > this.length) this.length = end;
  }

  /** Cuts or zero-extends the contents to `size` bytes. */
  truncate(size: number): void {
    if (size > this.length) {
      this.reserve(size);
      this.bytes.fill(0, this.length, size);
    }
    this.length = size;
    // Give memory back when a big file shrinks a lot.
    if (this.bytes.length > 1 << 20 && size < this.bytes.length / 4) {
      this.bytes = this.bytes.slice(0, Math.max(size * 2, 64));
    }
  }

  /** A copy of the contents (what a publish sends while later writes go on). */
  snapshot(): Uint8Array {
    return this.bytes.slice(0, this.length);
  }

  private reserve(size: number): void {
    if (size <= this.bytes.length) return;
    const next = new Uint8Array(Math.max(size, Math.min(this.bytes.length * 2, size + (16 << 20))));
    next.set(this.bytes.subarray(0, this.length));
    this.bytes = next;
  }
}
