// Tahoe's immutable share container (storage/immutable.py, immutable_schema.py): a 12-byte
// header `>LLL` (version, data length saturated at 2^32−1 — unused since Tahoe 1.3 —, lease
// count), the share data, then the leases, 72 bytes each `>L32s32sL` (owner, renew secret,
// cancel secret, expiry). Version 2 stores BLAKE2b-256 of the lease secrets, version 1 the
// secrets. We write version 2, read both, so a Tahoe node can serve our files and we theirs.
// Pure: the immutable store does the I/O.
import { ContainerFormatError, timingSafeEqualBytes } from './container.js';
import { blake2b256 } from './blake2b.js';

export const IMMUTABLE_HEADER_SIZE = 12;
export const IMMUTABLE_LEASE_SIZE = 72;
export const IMMUTABLE_VERSION = 2;

export interface ImmutableLease {
  ownerNumber: number;
  /** As stored (hashed in version 2). */
  renewSecret: Uint8Array;
  cancelSecret: Uint8Array;
  expirationTime: number;
}

function u32(b: Uint8Array, o: number): number {
  return ((b[o] << 24) | (b[o + 1] << 16) | (b[o + 2] << 8) | b[o + 3]) >>> 0;
}
function putU32(b: Uint8Array, o: number, v: number) {
  b[o] = v >>> 24;
  b[o + 1] = (v >>> 16) & 0xff;
  b[o + 2] = (v >>> 8) & 0xff;
  b[o + 3] = v & 0xff;
}

/** True if `header` (≥ 4 bytes) starts an immutable container (a mutable one starts "Taho"). */
export function isImmutableContainer(header: Uint8Array): boolean {
  if (header.length < 4) return false;
  const v = u32(header, 0);
  return v === 1 || v === 2;
}

/** The header of a new container for `allocatedSize` bytes of share data, no leases yet. */
export function immutableHeader(allocatedSize: number, leaseCount = 0): Uint8Array {
  const h = new Uint8Array(IMMUTABLE_HEADER_SIZE);
  putU32(h, 0, IMMUTABLE_VERSION);
  putU32(h, 4, Math.min(0xffffffff, allocatedSize));
  putU32(h, 8, leaseCount);
  return h;
}

/** Layout facts of a container, from its header and total file size. */
export interface ImmutableLayout {
  version: 1 | 2;
  leaseCount: number;
  dataLength: number;
}

export function immutableLayout(header: Uint8Array, fileSize: number, where: string) {
  if (header.length < IMMUTABLE_HEADER_SIZE || !isImmutableContainer(header)) {
    throw new ContainerFormatError(`${where}: not an immutable share container`);
  }
  const leaseCount = u32(header, 8);
  const dataLength = fileSize - IMMUTABLE_HEADER_SIZE - leaseCount * IMMUTABLE_LEASE_SIZE;
  if (dataLength < 0) {
    throw new ContainerFormatError(
      `${where}: ${leaseCount} leases do not fit in a ${fileSize}-byte container`,
    );
  }
  return { version: u32(header, 0) as 1 | 2, leaseCount, dataLength } satisfies ImmutableLayout;
}

export function encodeImmutableLease(lease: ImmutableLease): Uint8Array {
  const rec = new Uint8Array(IMMUTABLE_LEASE_SIZE);
  putU32(rec, 0, lease.ownerNumber);
  rec.set(lease.renewSecret.subarray(0, 32), 4);
  rec.set(lease.cancelSecret.subarray(0, 32), 36);
  putU32(rec, 68, lease.expirationTime);
  return rec;
}

export function decodeImmutableLease(rec: Uint8Array): ImmutableLease {
  return {
    ownerNumber: u32(rec, 0),
    renewSecret: rec.slice(4, 36),
    cancelSecret: rec.slice(36, 68),
    expirationTime: u32(rec, 68),
  };
}

/** How a secret is stored in a container of `version`. */
export function storedLeaseSecret(version: 1 | 2, secret: Uint8Array): Uint8Array {
  return version === 2 ? blake2b256(secret) : secret;
}

/**
 * Tahoe's add_or_renew_lease on a whole container: a lease whose renew secret matches gets
 * the later expiry; otherwise a new lease (owner `ownerNumber`) is appended. Returns the
 * new container bytes.
 */
export function addOrRenewImmutableLease(
  container: Uint8Array,
  renewSecret: Uint8Array,
  cancelSecret: Uint8Array,
  expirationTime: number,
  ownerNumber: number,
  where: string,
): Uint8Array {
  const layout = immutableLayout(container, container.length, where);
  const leasesAt = IMMUTABLE_HEADER_SIZE + layout.dataLength;
  const storedRenew = storedLeaseSecret(layout.version, renewSecret);
  for (let i = 0; i < layout.leaseCount; i++) {
    const at = leasesAt + i * IMMUTABLE_LEASE_SIZE;
    const lease = decodeImmutableLease(container.subarray(at, at + IMMUTABLE_LEASE_SIZE));
    if (timingSafeEqualBytes(lease.renewSecret, storedRenew)) {
      if (expirationTime <= lease.expirationTime) return container;
      const out = container.slice();
      putU32(out, at + 68, expirationTime);
      return out;
    }
  }
  const out = new Uint8Array(container.length + IMMUTABLE_LEASE_SIZE);
  out.set(container);
  putU32(out, 8, layout.leaseCount + 1);
  out.set(
    encodeImmutableLease({
      ownerNumber,
      renewSecret: storedRenew,
      cancelSecret: storedLeaseSecret(layout.version, cancelSecret),
      expirationTime,
    }),
    container.length,
  );
  return out;
}
