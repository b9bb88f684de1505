// A short soak (soak/soak.ts) as CI can afford: one mount writer and one put writer for
// about 20 s of faults on the multi-host grid (the loopback grid where network namespaces
// cannot be made), then every acknowledged write checked by a fresh client. The long run
// is `npm run soak -- --minutes 30`.
import test from 'ava';
import { openSoakGrid } from '../soak/open-grid.js';
import { runSoak } from '../soak/soak.js';
import { fuseUnavailable } from './harness.js';

const unavailable = fuseUnavailable();
if (unavailable) console.warn(`soak test skipped: ${unavailable}`);
const soakTest = unavailable ? test.skip : test.serial;

soakTest(
  'soak: writers under kills, stalls and partitions lose nothing acknowledged',
  async (t) => {
    t.timeout(6 * 60_000);
    const seed = Number(process.env.SLOTFS_SEED ?? Date.now() % 2 ** 31);
    const lines: string[] = [];
    const report = await runSoak({
      minutes: 20 / 60,
      roundSeconds: 20,
      seed,
      mounts: 1,
      puts: 1,
      files: 3,
      grid: (work) => openSoakGrid('auto', 10, work, (line) => lines.push(line)),
      log: (line) => lines.push(line),
    });
    for (const line of [...lines, report.line]) t.log(line);
    const m = /^soak: (\d+) trials, (\d+) acknowledged writes, (\d+) lost, (\d+) rolled back$/.exec(
      report.line,
    );
    t.truthy(m, report.line);
    t.true(Number(m![1]) >= 1, 'at least one trial');
    t.true(Number(m![2]) > 0, 'some writes were acknowledged');
    t.is(Number(m![3]), 0, 'lost');
    t.is(Number(m![4]), 0, 'rolled back');
    t.true(Object.values(report.faults).reduce((a, b) => a + b, 0) > 0, 'faults were played');
  },
);
