// The tools mount tests (tools-suite.ts), every test, with the mount tests' format: the
// default (ed25519), or SLOTFS_MOUNT_FORMAT=tahoe to run them all on RSA SDMF.
import { MOUNT_FORMAT } from './harness.js';
import { toolsSuite } from './tools-suite.js';

toolsSuite(MOUNT_FORMAT);
