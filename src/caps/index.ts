// slotfs/caps: parse, format and derive Tahoe-LAFS capability strings (tahoe-formats.md §4).
export * from './types.js';
export * from './errors.js';
export { parseCap, formatCap, capKindName } from './parse.js';
export * from './derive.js';
