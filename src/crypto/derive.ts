// The key schedule of one mutable file and the lease/write-enabler secrets
// (tahoe-formats.md §1.3 and §3). Every tag string is Tahoe's, byte for byte.
import { taggedHash, taggedPairHash } from './hash.js';

export const TAGS = {
  writekey: 'allmydata_mutable_privkey_to_writekey_v1',
  readkey: 'allmydata_mutable_writekey_to_readkey_v1',
  storageIndex: 'allmydata_mutable_readkey_to_storage_index_v1',
  fingerprint: 'allmydata_mutable_pubkey_to_fingerprint_v1',
  datakey: 'allmydata_mutable_readkey_to_datakey_v1',
  writeEnablerMaster: 'allmydata_mutable_writekey_to_write_enabler_master_v1',
  writeEnabler: 'allmydata_mutable_write_enabler_master_and_nodeid_to_write_enabler_v1',
  blockHash: 'allmydata_encoded_subshare_v1',
  merkleEmptyLeaf: 'Merkle tree empty leaf',
  merkleInterior: 'Merkle tree internal node',
  dirnodeChildSalt: 'allmydata_dirnode_child_rwcap_to_salt_v1',
  dirnodeChildKey: 'allmydata_mutable_writekey_and_salt_to_dirnode_child_capkey_v1',
  clientRenewal: 'allmydata_client_renewal_secret_v1',
  clientCancel: 'allmydata_client_cancel_secret_v1',
  fileRenewal: 'allmydata_file_renewal_secret_v1',
  fileCancel: 'allmydata_file_cancel_secret_v1',
  bucketRenewal: 'allmydata_bucket_renewal_secret_v1',
  bucketCancel: 'allmydata_bucket_cancel_secret_v1',
  containerHeader: 'allmydata_mutable_container_header',
  immutableStorageIndex: 'allmydata_immutable_key_to_storage_index_v1',
} as const;

/** writekey = H(privkey PKCS#8 DER)[:16]. Hash exactly the DER bytes; never re-encode. */
export const writekeyFromPrivateKey = (pkcs8Der: Uint8Array) =>
  taggedHash(TAGS.writekey, pkcs8Der, 16);
export const readkeyFromWritekey = (writekey: Uint8Array) => taggedHash(TAGS.readkey, writekey, 16);
export const storageIndexFromReadkey = (readkey: Uint8Array) =>
  taggedHash(TAGS.storageIndex, readkey, 16);
/** Storage index of an immutable (CHK) file from its 16-byte key; for recognising CHK caps. */
export const storageIndexFromImmutableKey = (key: Uint8Array) =>
  taggedHash(TAGS.immutableStorageIndex, key, 16);
/** fingerprint = H(pubkey SPKI DER), 32 bytes, not truncated. */
export const fingerprintFromPublicKey = (spkiDer: Uint8Array) =>
  taggedHash(TAGS.fingerprint, spkiDer);
/** Per-publish data key: H2(tag, salt, readkey)[:16] — salt first. */
export const datakeyFromSalt = (salt: Uint8Array, readkey: Uint8Array) =>
  taggedPairHash(TAGS.datakey, salt, readkey, 16);
export const writeEnablerMaster = (writekey: Uint8Array) =>
  taggedHash(TAGS.writeEnablerMaster, writekey);
/** Per-server write enabler; `serverId` is the server's 20-byte node id. */
export const writeEnabler = (writekey: Uint8Array, serverId: Uint8Array) =>
  taggedPairHash(TAGS.writeEnabler, writeEnablerMaster(writekey), serverId);

export const blockHash = (block: Uint8Array) => taggedHash(TAGS.blockHash, block);

export const dirnodeChildSalt = (childRwCap: Uint8Array) =>
  taggedHash(TAGS.dirnodeChildSalt, childRwCap, 16);
export const dirnodeChildKey = (salt: Uint8Array, dirWritekey: Uint8Array) =>
  taggedPairHash(TAGS.dirnodeChildKey, salt, dirWritekey, 16);

// Lease secrets: the client-level ones swap tag and value (the secret is the tag).
export const clientRenewalSecret = (leaseSecret: Uint8Array) =>
  taggedHash(leaseSecret, TAGS.clientRenewal);
export const clientCancelSecret = (leaseSecret: Uint8Array) =>
  taggedHash(leaseSecret, TAGS.clientCancel);
export const fileRenewalSecret = (clientRenewal: Uint8Array, storageIndex: Uint8Array) =>
  taggedPairHash(TAGS.fileRenewal, clientRenewal, storageIndex);
export const fileCancelSecret = (clientCancel: Uint8Array, storageIndex: Uint8Array) =>
  taggedPairHash(TAGS.fileCancel, clientCancel, storageIndex);
export const leaseRenewSecret = (fileRenewal: Uint8Array, serverId: Uint8Array) =>
  taggedPairHash(TAGS.bucketRenewal, fileRenewal, serverId);
export const leaseCancelSecret = (fileCancel: Uint8Array, serverId: Uint8Array) =>
  taggedPairHash(TAGS.bucketCancel, fileCancel, serverId);

/** The per-server lease secrets a client sends with a write, from its 32-byte lease secret. */
export function leaseSecretsFor(
  leaseSecret: Uint8Array,
  storageIndex: Uint8Array,
  serverId: Uint8Array,
) {
  return {
    renew: leaseRenewSecret(
      fileRenewalSecret(clientRenewalSecret(leaseSecret), storageIndex),
      serverId,
    ),
    cancel: leaseCancelSecret(
      fileCancelSecret(clientCancelSecret(leaseSecret), storageIndex),
      serverId,
    ),
  };
}

// ---- Ed25519 mutable files (docs/formats.md §2) ----
// Same shape as SDMF's key schedule, with tags of slotfs's own so that no value of one
// format can ever equal a value of the other. The block hash, Merkle tree, dirnode and
// lease tags are shared with SDMF (Tahoe's).

export const ED25519_TAGS = {
  writekey: 'slotfs_ed25519_seed_to_writekey_v1',
  readkey: 'slotfs_ed25519_writekey_to_readkey_v1',
  storageIndex: 'slotfs_ed25519_readkey_and_verification_key_to_storage_index_v1',
  datakey: 'slotfs_ed25519_readkey_and_salt_to_datakey_v1',
  writeEnablerMaster: 'slotfs_ed25519_writekey_to_write_enabler_master_v1',
  writeEnabler: 'slotfs_ed25519_write_enabler_master_and_nodeid_to_write_enabler_v1',
} as const;

/** writekey = H(tag, seed)[:16]. */
export const ed25519WritekeyFromSeed = (seed: Uint8Array) =>
  taggedHash(ED25519_TAGS.writekey, seed, 16);
/** readkey = H(tag, writekey)[:16]. */
export const ed25519ReadkeyFromWritekey = (writekey: Uint8Array) =>
  taggedHash(ED25519_TAGS.readkey, writekey, 16);
/** storage index = H2(tag, readkey, verification key)[:16]: binds the key into the location. */
export const ed25519StorageIndex = (readkey: Uint8Array, verificationKey: Uint8Array) =>
  taggedPairHash(ED25519_TAGS.storageIndex, readkey, verificationKey, 16);
/** Per-publish data key: H2(tag, salt, readkey)[:16] — salt first, as in SDMF. */
export const ed25519DatakeyFromSalt = (salt: Uint8Array, readkey: Uint8Array) =>
  taggedPairHash(ED25519_TAGS.datakey, salt, readkey, 16);
export const ed25519WriteEnablerMaster = (writekey: Uint8Array) =>
  taggedHash(ED25519_TAGS.writeEnablerMaster, writekey);
/** Per-server write enabler; `serverId` is the server's 20-byte node id. */
export const ed25519WriteEnabler = (writekey: Uint8Array, serverId: Uint8Array) =>
  taggedPairHash(ED25519_TAGS.writeEnabler, ed25519WriteEnablerMaster(writekey), serverId);

/** Which key schedule a mutable file uses: Tahoe's SDMF (RSA) or slotfs's Ed25519. */
export type KeySchedule = 'sdmf' | 'ed25519';

/** The data key of one publish under either schedule. */
export const scheduleDatakey = (schedule: KeySchedule, salt: Uint8Array, readkey: Uint8Array) =>
  schedule === 'ed25519' ? ed25519DatakeyFromSalt(salt, readkey) : datakeyFromSalt(salt, readkey);

/** The write enabler under either schedule. */
export const scheduleWriteEnabler = (
  schedule: KeySchedule,
  writekey: Uint8Array,
  serverId: Uint8Array,
) =>
  schedule === 'ed25519'
    ? ed25519WriteEnabler(writekey, serverId)
    : writeEnabler(writekey, serverId);
