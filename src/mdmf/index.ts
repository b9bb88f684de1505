// slotfs/mdmf: Tahoe's MDMF mutable share format, read side. Pure, no I/O.
export * from './share.js';
export * from './build.js';
