// slot_testv_and_readv_and_writev (tahoe-formats.md §9.2) over in-memory containers: the
// pure decision of what to read, whether the tests pass, and which containers change. The
// store loads the slot, calls this under the slot's lock, then persists `changes`.
import { LEASE_DURATION_SECONDS, MutableContainer } from './container.js';
import type { ReadTestWriteRequest, ReadVector } from './protocol.js';

export class BadWriteEnablerError extends Error {
  readonly code = 'ERR_STORAGE_WRITE_ENABLER';
  constructor(
    readonly shareNumber: number,
    readonly recordedBy: string,
  ) {
    // Tahoe's message, verbatim: it names the node that recorded the old enabler.
    super(`The write enabler was recorded by nodeid '${recordedBy}'.`);
    this.name = 'BadWriteEnablerError';
  }
}

export interface SlotSecrets {
  writeEnabler: Uint8Array;
  leaseRenewSecret: Uint8Array;
  leaseCancelSecret: Uint8Array;
}

export interface SlotContext {
  /** This server's 20-byte node id, recorded in new containers and leases. */
  nodeId: Uint8Array;
  /** Unix seconds; leases expire 31 days later. */
  now: number;
  maxShareSize: number;
}

export interface SlotOutcome {
  success: boolean;
  /** Pre-write reads of every share present. */
  data: Map<number, Uint8Array[]>;
  /** Share number → new container, or null to delete. Empty when the tests failed. */
  changes: Map<number, MutableContainer | null>;
}

/**
 * One read vector entry. A negative offset (slotfs read-from-end extension) counts from the
 * data end: the range [length + offset, length + offset + size) clipped to the data.
 */
export function readVectorEntry(share: MutableContainer, r: ReadVector): Uint8Array {
  if (r.offset >= 0) return share.read(r.offset, r.size);
  const start = share.dataLength + r.offset;
  const end = start + r.size;
  if (end <= 0) return new Uint8Array(0);
  return share.read(Math.max(0, start), end - Math.max(0, start));
}

export function readTestWrite(
  shares: Map<number, MutableContainer>,
  req: ReadTestWriteRequest,
  secrets: SlotSecrets,
  ctx: SlotContext,
): SlotOutcome {
  // 1. Every existing share must carry the presented write enabler.
  for (const [shnum, share] of shares) {
    if (!share.checkWriteEnabler(secrets.writeEnabler)) {
      throw new BadWriteEnablerError(shnum, share.nodeIdBase32);
    }
  }
  // 2. Test vectors (eq) against the named shares; a missing share reads as empty.
  const empty = new Uint8Array(0);
  let success = true;
  outer: for (const [shnum, tw] of req.testWriteVectors) {
    const share = shares.get(shnum);
    for (const t of tw.test) {
      const actual = share ? share.read(t.offset, t.size) : empty;
      if (!Buffer.from(actual).equals(t.specimen)) {
        success = false;
        break outer;
      }
    }
  }
  // 3. Reads over every share present, before any write.
  const data = new Map<number, Uint8Array[]>();
  for (const shnum of [...shares.keys()].sort((a, b) => a - b)) {
    const share = shares.get(shnum)!;
    data.set(
      shnum,
      req.readVector.map((r) => readVectorEntry(share, r)),
    );
  }
  const changes = new Map<number, MutableContainer | null>();
  if (!success) return { success, data, changes };

  // 4. Writes on copies (so a ShareTooLargeError leaves nothing half-applied), then leases.
  const expiry = ctx.now + LEASE_DURATION_SECONDS;
  for (const [shnum, tw] of req.testWriteVectors) {
    const existing = shares.get(shnum);
    if (tw.newLength === 0) {
      if (existing) changes.set(shnum, null);
      continue;
    }
    const share = existing?.clone() ?? MutableContainer.create(ctx.nodeId, secrets.writeEnabler);
    for (const w of tw.write) share.write(w.offset, w.data, ctx.maxShareSize);
    if (tw.newLength !== null) share.truncate(tw.newLength);
    share.addOrRenewLease(secrets.leaseRenewSecret, secrets.leaseCancelSecret, expiry, ctx.nodeId);
    changes.set(shnum, share);
  }
  return { success, data, changes };
}
