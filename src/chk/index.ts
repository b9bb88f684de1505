// slotfs/chk: Tahoe's immutable (CHK) share format — parse, verify, decode. Pure, no I/O.
export * from './errors.js';
export * from './layout.js';
export * from './uri-extension.js';
export * from './decode.js';
