// The tools mount tests (tools-suite.ts) with the default format: every test.
import { toolsSuite } from './tools-suite.js';

toolsSuite('ed25519');
