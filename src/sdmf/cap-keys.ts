// What the SDMF layer needs from a cap: the fingerprint always, the readkey to decrypt,
// the writekey to recover the private key. Accepts cap strings, parsed caps from
// slotfs/caps, or plain key objects.
import { CapError, capKindName, parseCap, type Cap } from '../caps/index.js';
import { readkeyFromWritekey, storageIndexFromReadkey } from '../crypto/derive.js';
import { SdmfCapError } from './errors.js';

/** Key material of a write, read or verify cap (any subset above the fingerprint). */
export interface CapKeys {
  fingerprint: Uint8Array;
  writekey?: Uint8Array;
  readkey?: Uint8Array;
  storageIndex?: Uint8Array;
}

export interface ResolvedCapKeys {
  fingerprint: Uint8Array;
  storageIndex: Uint8Array;
  writekey?: Uint8Array;
  readkey?: Uint8Array;
}

/** A cap as accepted by verifyShare/decodeShares: a string, a parsed cap, or its keys. */
export type SdmfCap = string | Cap | CapKeys;

export function resolveCapKeys(cap: SdmfCap): ResolvedCapKeys {
  const keys =
    typeof cap === 'string' ? keysOf(parseCapText(cap)) : 'kind' in cap ? keysOf(cap) : cap;
  if (!(keys.fingerprint instanceof Uint8Array) || keys.fingerprint.length !== 32) {
    throw new SdmfCapError('ERR_SDMF_CAP', 'cap has no 32-byte fingerprint');
  }
  const readkey = keys.readkey ?? (keys.writekey && readkeyFromWritekey(keys.writekey));
  const storageIndex = keys.storageIndex ?? (readkey && storageIndexFromReadkey(readkey));
  if (!storageIndex) {
    throw new SdmfCapError('ERR_SDMF_CAP', 'cap has neither a storage index, readkey nor writekey');
  }
  return { fingerprint: keys.fingerprint, storageIndex, writekey: keys.writekey, readkey };
}

function parseCapText(text: string): Cap {
  try {
    return parseCap(text);
  } catch (cause) {
    if (!(cause instanceof CapError)) throw cause;
    throw new SdmfCapError('ERR_SDMF_CAP', `not a usable cap: ${cause.message}`, { cause });
  }
}

function keysOf(cap: Cap): CapKeys {
  if (cap.kind !== 'ssk-write' && cap.kind !== 'ssk-read' && cap.kind !== 'ssk-verify') {
    throw new SdmfCapError(
      'ERR_SDMF_CAP_KIND',
      `URI:${capKindName(cap)} is an immutable cap, not an SDMF mutable file or directory`,
    );
  }
  if (cap.format !== 'sdmf') {
    throw new SdmfCapError(
      'ERR_SDMF_CAP_KIND',
      `URI:${capKindName(cap)} is an MDMF cap; slotfs reads and writes SDMF only`,
    );
  }
  return cap;
}
