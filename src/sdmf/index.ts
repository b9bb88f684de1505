// slotfs/sdmf: the SDMF share format — pack, parse, verify, build and decode (pure).
export * from './errors.js';
export * from './layout.js';
export * from './cap-keys.js';
export * from './build.js';
export * from './verify.js';
export * from './decode.js';
export * from './private-key.js';
