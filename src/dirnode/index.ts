// slotfs/dirnode: directory contents — packing and unpacking the child table (pure).
export * from './errors.js';
export * from './format.js';
export * from './metadata-json.js';
