// slotfs/immutable: reading Tahoe's immutable files (CHK from the grid, LIT from the cap).
export * from './errors.js';
export * from './download.js';
