// The tools mount tests (tools-suite.ts) with format = "tahoe" (RSA SDMF): a
// representative subset — files, directories, a tar of small files, git, caps and a
// remount — to keep CI time in check; the whole suite runs with the default format.
import { toolsSuite } from './tools-suite.js';

toolsSuite('tahoe', [
  'echo >',
  'cp, cp -r, mv',
  'sed -i',
  'tar x',
  'git init',
  'caps:',
  'everything is still there',
  'slotfs unmount',
]);
