// Tahoe's mutable share container (tahoe-formats.md §9.1), held whole in memory: parse,
// mutate exactly as Tahoe's MutableShareFile does to its file (so the bytes match what a
// Tahoe server would leave on disk), serialise. Pure: the store does the I/O.
import { timingSafeEqual } from 'node:crypto';
import { toBase32 } from '../encoding/base32.js';
import { concatBytes, equalBytes, utf8 } from '../encoding/bytes.js';
import { taggedHash } from '../crypto/hash.js';
import { blake2b256 } from './blake2b.js';

export const MAGIC_V1 = concatBytes(
  utf8('Tahoe mutable container v1\n'),
  new Uint8Array([0x75, 0x09, 0x44, 0x03, 0x8e]),
);
export const MAGIC_V2 = concatBytes(
  utf8('Tahoe mutable container v2\n'),
  taggedHash('allmydata_mutable_container_header', 'Tahoe mutable container v2\n', 5),
);

const NODEID_OFFSET = 32;
const WE_OFFSET = 52;
const DATA_LENGTH_OFFSET = 84;
const EXTRA_LEASE_OFFSET_OFFSET = 92;
export const HEADER_SIZE = 100;
export const LEASE_SIZE = 92;
export const DATA_OFFSET = 468;
export const EMPTY_CONTAINER_SIZE = DATA_OFFSET + 4;
/** Tahoe's renewal period: a lease lasts 31 days from its last add/renew. */
export const LEASE_DURATION_SECONDS = 31 * 24 * 60 * 60;

export type ContainerVersion = 1 | 2;

export interface Lease {
  /** Slot index: 0..3 in the header, 4.. in the extra-lease block. */
  index: number;
  ownerNumber: number;
  /** Unix seconds. */
  expirationTime: number;
  /** As stored: BLAKE2b-256 of the secret in v2, the secret itself in v1. */
  renewSecret: Uint8Array;
  cancelSecret: Uint8Array;
  nodeId: Uint8Array;
}

export class ContainerFormatError extends Error {
  readonly code = 'ERR_CONTAINER_FORMAT';
  constructor(message: string) {
    super(message);
    this.name = 'ContainerFormatError';
  }
}

/** A write would make the share data longer than the configured maximum. */
export class ShareTooLargeError extends Error {
  readonly code = 'ERR_STORAGE_SHARE_TOO_LARGE';
  constructor(
    readonly requestedLength: number,
    readonly maximum: number,
  ) {
    super(
      `the write would make the share ${requestedLength} bytes long, over this server's maximum-mutable-share-size of ${maximum} bytes; nothing was written`,
    );
    this.name = 'ShareTooLargeError';
  }
}

function u32(b: Uint8Array, o: number): number {
  return ((b[o] << 24) | (b[o + 1] << 16) | (b[o + 2] << 8) | b[o + 3]) >>> 0;
}
function u64(b: Uint8Array, o: number): number {
  const hi = u32(b, o);
  const lo = u32(b, o + 4);
  // Lengths and offsets beyond 2^53 cannot be real (files are far smaller).
  if (hi >= 0x200000) return Number.MAX_SAFE_INTEGER;
  return hi * 0x100000000 + lo;
}
function putU32(b: Uint8Array, o: number, v: number) {
  b[o] = v >>> 24;
  b[o + 1] = (v >>> 16) & 0xff;
  b[o + 2] = (v >>> 8) & 0xff;
  b[o + 3] = v & 0xff;
}
function putU64(b: Uint8Array, o: number, v: number) {
  putU32(b, o, Math.floor(v / 0x100000000));
  putU32(b, o + 4, v >>> 0);
}

/** Constant-time equality that tolerates different lengths (as Tahoe's timing_safe_compare). */
export function timingSafeEqualBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) {
    timingSafeEqual(a, a); // spend comparable time, then refuse
    return false;
  }
  return timingSafeEqual(a, b);
}

/** Tahoe's `struct.pack(">32s", x)`: pad with zeros or cut to exactly n bytes. */
function fixed(bytes: Uint8Array, n: number): Uint8Array {
  const out = new Uint8Array(n);
  out.set(bytes.subarray(0, n));
  return out;
}

export function detectVersion(header: Uint8Array): ContainerVersion | undefined {
  if (header.length < 32) return undefined;
  const magic = header.subarray(0, 32);
  if (equalBytes(magic, MAGIC_V2)) return 2;
  if (equalBytes(magic, MAGIC_V1)) return 1;
  return undefined;
}

/** Fields of the fixed 100-byte header (enough to serve a ranged read). */
export interface ContainerHeader {
  version: ContainerVersion;
  nodeId: Uint8Array;
  writeEnabler: Uint8Array;
  dataLength: number;
  extraLeaseOffset: number;
}

export function parseHeader(bytes: Uint8Array, where = 'container'): ContainerHeader {
  if (bytes.length < HEADER_SIZE) {
    throw new ContainerFormatError(
      `${where}: ${bytes.length} bytes is shorter than the ${HEADER_SIZE}-byte header`,
    );
  }
  const version = detectVersion(bytes);
  if (!version) {
    throw new ContainerFormatError(
      `${where}: not a Tahoe mutable container (magic is neither v1 nor v2)`,
    );
  }
  const dataLength = u64(bytes, DATA_LENGTH_OFFSET);
  const extraLeaseOffset = u64(bytes, EXTRA_LEASE_OFFSET_OFFSET);
  if (extraLeaseOffset < DATA_OFFSET + dataLength) {
    throw new ContainerFormatError(
      `${where}: data length ${dataLength} overlaps the extra-lease block at ${extraLeaseOffset}`,
    );
  }
  return {
    version,
    nodeId: bytes.slice(NODEID_OFFSET, NODEID_OFFSET + 20),
    writeEnabler: bytes.slice(WE_OFFSET, WE_OFFSET + 32),
    dataLength,
    extraLeaseOffset,
  };
}

/**
 * One share container. Mutations follow Tahoe's MutableShareFile step by step (lease block
 * moves, zero fills, container never shrinks), applied to an in-memory image of the file.
 */
export class MutableContainer {
  private buf: Uint8Array;
  private size: number;
  readonly version: ContainerVersion;

  private constructor(bytes: Uint8Array, version: ContainerVersion) {
    this.buf = bytes;
    this.size = bytes.length;
    this.version = version;
  }

  /** A new, empty container (472 bytes) recording the server's node id and the write enabler. */
  static create(nodeId: Uint8Array, writeEnabler: Uint8Array, version: ContainerVersion = 2) {
    const b = new Uint8Array(EMPTY_CONTAINER_SIZE);
    b.set(version === 2 ? MAGIC_V2 : MAGIC_V1, 0);
    b.set(fixed(nodeId, 20), NODEID_OFFSET);
    b.set(fixed(writeEnabler, 32), WE_OFFSET);
    putU64(b, DATA_LENGTH_OFFSET, 0);
    putU64(b, EXTRA_LEASE_OFFSET_OFFSET, DATA_OFFSET);
    return new MutableContainer(b, version);
  }

  /** Parses a whole container file, checking that every offset lies inside it. */
  static parse(bytes: Uint8Array, where = 'container'): MutableContainer {
    const h = parseHeader(bytes, where);
    if (h.extraLeaseOffset + 4 > bytes.length) {
      throw new ContainerFormatError(
        `${where}: extra-lease count at ${h.extraLeaseOffset} lies past the end of the ${bytes.length}-byte file (truncated?)`,
      );
    }
    const extra = u32(bytes, h.extraLeaseOffset);
    if (h.extraLeaseOffset + 4 + extra * LEASE_SIZE > bytes.length) {
      throw new ContainerFormatError(
        `${where}: ${extra} extra leases do not fit in the ${bytes.length}-byte file (truncated?)`,
      );
    }
    // A plain copy: Buffer#slice would alias the caller's memory.
    return new MutableContainer(new Uint8Array(bytes), h.version);
  }

  /** The container file's bytes. */
  toBytes(): Uint8Array {
    return this.buf.slice(0, this.size);
  }

  clone(): MutableContainer {
    return new MutableContainer(this.toBytes(), this.version);
  }

  get nodeId(): Uint8Array {
    return this.buf.slice(NODEID_OFFSET, NODEID_OFFSET + 20);
  }
  get writeEnabler(): Uint8Array {
    return this.buf.slice(WE_OFFSET, WE_OFFSET + 32);
  }
  get dataLength(): number {
    return u64(this.buf, DATA_LENGTH_OFFSET);
  }
  get extraLeaseOffset(): number {
    return u64(this.buf, EXTRA_LEASE_OFFSET_OFFSET);
  }
  get data(): Uint8Array {
    return this.buf.slice(DATA_OFFSET, DATA_OFFSET + this.dataLength);
  }

  /** Tahoe's check: the presented enabler must equal the stored 32 bytes. */
  checkWriteEnabler(presented: Uint8Array): boolean {
    return timingSafeEqualBytes(presented, this.writeEnabler);
  }

  /** `nodeid` in the form BadWriteEnablerError's message uses. */
  get nodeIdBase32(): string {
    return toBase32(this.nodeId);
  }

  /** Reads `length` bytes at `offset` of the share data, truncated at the data end. */
  read(offset: number, length: number): Uint8Array {
    const end = Math.min(offset + length, this.dataLength);
    if (offset >= end) return new Uint8Array(0);
    return this.buf.slice(DATA_OFFSET + offset, DATA_OFFSET + end);
  }

  private ensure(size: number) {
    if (size <= this.size) return;
    if (size > this.buf.length) {
      const grown = new Uint8Array(Math.max(size, Math.min(this.buf.length * 2, size + (1 << 20))));
      grown.set(this.buf.subarray(0, this.size));
      this.buf = grown;
    }
    // Bytes past the old end read as zero, like a sparse write past EOF.
    this.buf.fill(0, this.size, size);
    this.size = size;
  }

  private writeAt(pos: number, data: Uint8Array) {
    this.ensure(pos + data.length);
    this.buf.set(data, pos);
  }

  private get extraLeaseCount(): number {
    return u32(this.buf, this.extraLeaseOffset);
  }

  /** Moves the extra-lease block so the data region can hold `newDataEnd` bytes. */
  private changeContainerSize(newDataEnd: number) {
    const oldOffset = this.extraLeaseOffset;
    const newOffset = DATA_OFFSET + newDataEnd;
    if (newOffset < oldOffset) return; // containers never shrink
    const leasesSize = 4 + this.extraLeaseCount * LEASE_SIZE;
    const block = this.buf.slice(oldOffset, oldOffset + leasesSize);
    this.buf.fill(0, oldOffset, oldOffset + leasesSize); // Tahoe zeroes the old copy (#1528)
    this.writeAt(newOffset, block);
    putU64(this.buf, EXTRA_LEASE_OFFSET_OFFSET, newOffset);
  }

  /**
   * Writes `data` at `offset` of the share data; a gap after the current end is zero-filled
   * and even an empty write past the end extends the data length.
   */
  write(offset: number, data: Uint8Array, maxDataLength = Number.MAX_SAFE_INTEGER) {
    const end = offset + data.length;
    if (end > maxDataLength) throw new ShareTooLargeError(end, maxDataLength);
    const dataLength = this.dataLength;
    if (end >= dataLength) {
      if (DATA_OFFSET + end > this.extraLeaseOffset) this.changeContainerSize(end);
      if (offset > dataLength) {
        this.buf.fill(0, DATA_OFFSET + dataLength, DATA_OFFSET + offset);
      }
      putU64(this.buf, DATA_LENGTH_OFFSET, end);
    }
    this.writeAt(DATA_OFFSET + offset, data);
  }

  /** `new_length`: only ever lowers the data length (the container keeps its size). */
  truncate(newLength: number) {
    if (newLength < this.dataLength) putU64(this.buf, DATA_LENGTH_OFFSET, newLength);
  }

  private leaseOffset(index: number): number {
    return index < 4
      ? HEADER_SIZE + index * LEASE_SIZE
      : this.extraLeaseOffset + 4 + (index - 4) * LEASE_SIZE;
  }

  private readLease(index: number): Lease | undefined {
    const o = this.leaseOffset(index);
    const ownerNumber = u32(this.buf, o);
    if (ownerNumber === 0) return undefined;
    return {
      index,
      ownerNumber,
      expirationTime: u32(this.buf, o + 4),
      renewSecret: this.buf.slice(o + 8, o + 40),
      cancelSecret: this.buf.slice(o + 40, o + 72),
      nodeId: this.buf.slice(o + 72, o + 92),
    };
  }

  /** Occupied lease slots, in slot order. */
  leases(): Lease[] {
    const out: Lease[] = [];
    const slots = 4 + this.extraLeaseCount;
    for (let i = 0; i < slots; i++) {
      const lease = this.readLease(i);
      if (lease) out.push(lease);
    }
    return out;
  }

  /** How a secret is stored in this container version. */
  storedSecret(secret: Uint8Array): Uint8Array {
    return this.version === 2 ? blake2b256(secret) : fixed(secret, 32);
  }

  private writeLease(index: number, lease: Omit<Lease, 'index'>) {
    const slots = 4 + this.extraLeaseCount;
    if (index >= slots) putU32(this.buf, this.extraLeaseOffset, this.extraLeaseCount + 1);
    const rec = new Uint8Array(LEASE_SIZE);
    putU32(rec, 0, lease.ownerNumber);
    putU32(rec, 4, lease.expirationTime);
    rec.set(fixed(lease.renewSecret, 32), 8);
    rec.set(fixed(lease.cancelSecret, 32), 40);
    rec.set(fixed(lease.nodeId, 20), 72);
    this.writeAt(this.leaseOffset(index), rec);
  }

  /**
   * Tahoe's add_or_renew_lease: a lease whose renew secret matches gets the new expiry if
   * it is later; otherwise a new lease (owner 1) takes the first empty slot or is appended.
   */
  addOrRenewLease(
    renewSecret: Uint8Array,
    cancelSecret: Uint8Array,
    expirationTime: number,
    nodeId: Uint8Array,
  ) {
    const storedRenew = this.storedSecret(renewSecret);
    for (const lease of this.leases()) {
      if (timingSafeEqualBytes(lease.renewSecret, storedRenew)) {
        if (expirationTime > lease.expirationTime)
          this.writeLease(lease.index, { ...lease, expirationTime });
        return;
      }
    }
    const slots = 4 + this.extraLeaseCount;
    let index = slots;
    for (let i = 0; i < slots; i++) {
      if (!this.readLease(i)) {
        index = i;
        break;
      }
    }
    this.writeLease(index, {
      ownerNumber: 1,
      expirationTime,
      renewSecret: storedRenew,
      cancelSecret: this.storedSecret(cancelSecret),
      nodeId,
    });
  }
}
