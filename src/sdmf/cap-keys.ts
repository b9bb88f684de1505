// What the share layer needs from a cap: the fingerprint (or, for Ed25519, the
// verification key) always, the readkey to decrypt, the writekey to recover the private
// key (SDMF) or the seed to sign (Ed25519). Accepts cap strings, parsed caps from
// slotfs/caps, or plain key objects.
import { CapError, capKindName, parseCap, type Cap } from '../caps/index.js';
import {
  ed25519ReadkeyFromWritekey,
  ed25519StorageIndex,
  ed25519WritekeyFromSeed,
  readkeyFromWritekey,
  storageIndexFromReadkey,
} from '../crypto/derive.js';
import { SdmfCapError } from './errors.js';

/** The share formats slotfs reads and writes: Tahoe's SDMF (RSA) and its own Ed25519. */
export type ShareFormat = 'sdmf' | 'ed25519';

/** Key material of a write, read or verify cap (any subset above the fingerprint). */
export interface CapKeys {
  /** Default 'sdmf'. */
  format?: ShareFormat;
  /** SDMF: hash of the verification key. Ed25519: the 32-byte verification key itself. */
  fingerprint: Uint8Array;
  /** Ed25519 write caps: the 32-byte signing-key seed. */
  seed?: Uint8Array;
  writekey?: Uint8Array;
  readkey?: Uint8Array;
  storageIndex?: Uint8Array;
}

export interface ResolvedCapKeys {
  format: ShareFormat;
  fingerprint: Uint8Array;
  storageIndex: Uint8Array;
  seed?: Uint8Array;
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
  const format = keys.format ?? 'sdmf';
  if (format === 'ed25519') {
    const writekey = keys.writekey ?? (keys.seed && ed25519WritekeyFromSeed(keys.seed));
    const readkey = keys.readkey ?? (writekey && ed25519ReadkeyFromWritekey(writekey));
    const storageIndex =
      keys.storageIndex ?? (readkey && ed25519StorageIndex(readkey, keys.fingerprint));
    if (!storageIndex) {
      throw new SdmfCapError(
        'ERR_SDMF_CAP',
        'cap has neither a storage index, readkey, writekey nor seed',
      );
    }
    return {
      format,
      fingerprint: keys.fingerprint,
      storageIndex,
      seed: keys.seed,
      writekey,
      readkey,
    };
  }
  const readkey = keys.readkey ?? (keys.writekey && readkeyFromWritekey(keys.writekey));
  const storageIndex = keys.storageIndex ?? (readkey && storageIndexFromReadkey(readkey));
  if (!storageIndex) {
    throw new SdmfCapError('ERR_SDMF_CAP', 'cap has neither a storage index, readkey nor writekey');
  }
  return { format, fingerprint: keys.fingerprint, storageIndex, writekey: keys.writekey, readkey };
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
  if (cap.format === 'mdmf') {
    throw new SdmfCapError(
      'ERR_SDMF_CAP_KIND',
      `URI:${capKindName(cap)} is an MDMF cap; slotfs reads and writes SDMF and Ed25519 only`,
    );
  }
  return {
    format: cap.format,
    fingerprint: cap.fingerprint,
    seed: cap.kind === 'ssk-write' ? cap.seed : undefined,
    writekey: cap.kind === 'ssk-write' ? cap.writekey : undefined,
    readkey: cap.kind === 'ssk-verify' ? undefined : cap.readkey,
    storageIndex: cap.storageIndex,
  };
}
