// slotfs/crypto: Tahoe's hashes, key schedule, Merkle trees, AES-CTR, RSA-PSS and a key pool.
export * from './hash.js';
export * from './derive.js';
export * from './merkle.js';
export * from './aes.js';
export * from './rsa.js';
export * from './keypool.js';
export * from './ed25519.js';
