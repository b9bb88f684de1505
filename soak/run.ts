// `npm run soak -- --minutes M --seed S [--grid hosts|loopback] [--mounts N] [--puts N]`:
// the soak (soak.ts) on the multi-host grid where network namespaces can be made, else on
// the loopback grid (said in the first line). Last line:
// `soak: T trials, W acknowledged writes, L lost, R rolled back`; exit 1 unless L = R = 0.
import { parseArgs } from 'node:util';
import { openSoakGrid } from './open-grid.js';
import { runSoak } from './soak.js';

const { values } = parseArgs({
  options: {
    minutes: { type: 'string', default: '5' },
    seed: { type: 'string' },
    grid: { type: 'string', default: 'auto' },
    mounts: { type: 'string', default: '2' },
    puts: { type: 'string', default: '2' },
    files: { type: 'string', default: '4' },
    'round-seconds': { type: 'string', default: '90' },
  },
});

function number(name: string, text: string | undefined, min: number): number {
  const n = Number(text);
  if (!Number.isFinite(n) || n < min) {
    console.error(`soak: --${name} must be a number ≥ ${min}, got ${JSON.stringify(text)}`);
    process.exit(2);
  }
  return n;
}

const kind = values.grid;
if (kind !== 'auto' && kind !== 'hosts' && kind !== 'loopback') {
  console.error(`soak: --grid must be hosts, loopback or auto, got ${JSON.stringify(kind)}`);
  process.exit(2);
}
const seed =
  values.seed === undefined ? Math.floor(Math.random() * 2 ** 31) : number('seed', values.seed, 0);
const report = await runSoak({
  minutes: number('minutes', values.minutes, 0.1),
  seed,
  grid: (work) => openSoakGrid(kind, 10, work, (line) => console.log(line)),
  mounts: number('mounts', values.mounts, 0),
  puts: number('puts', values.puts, 0),
  files: number('files', values.files, 1),
  roundSeconds: number('round-seconds', values['round-seconds'], 5),
});
for (const b of report.bad) console.log(`trial ${b.trial}: ${b.file} ${b.verdict}: ${b.detail}`);
console.log(
  `faults: ${Object.entries(report.faults)
    .map(([k, n]) => `${n} ${k}`)
    .join(
      ', ',
    )}; ${report.attempts} write attempts; seed ${seed} (--seed ${seed} to replay the schedule)`,
);
console.log(report.line);
process.exit(report.lost === 0 && report.rolledBack === 0 ? 0 : 1);
