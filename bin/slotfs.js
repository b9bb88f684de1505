#!/usr/bin/env node
// Entry point of the `slotfs` command; the compiled CLI lives in dist/ (npm run build).
import('../dist/cli/main.js').catch((err) => {
  if (err && err.code === 'ERR_MODULE_NOT_FOUND' && String(err.message).includes('dist/cli')) {
    console.error('slotfs: dist/ is missing; run `npm run build` first.');
    process.exit(1);
  }
  throw err;
});
