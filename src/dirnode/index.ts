// slotfs/dirnode: directory contents — packing and unpacking the child table (pure), and
// directory operations over a MutableClient (DirectoryClient).
export * from './errors.js';
export * from './format.js';
export * from './child-table.js';
export * from './metadata-json.js';
export * from './directory.js';
export * from './symlink.js';
