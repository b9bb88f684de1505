import test from 'ava';
import { EMPTY_HASH, Ledger, summaryLine } from './ledger.js';
import { planRound, prng } from './schedule.js';

test('the newest acknowledged write, or a later unacknowledged one, is ok; older is rolled back; anything else lost', (t) => {
  const ledger = new Ledger();
  const a = ledger.begin('f', 'a');
  ledger.acknowledge('f', a);
  ledger.begin('f', 'b'); // failed: not acknowledged
  const c = ledger.begin('f', 'c');
  ledger.acknowledge('f', c);
  ledger.begin('f', 'd'); // in flight when the client was killed
  t.is(ledger.acknowledgedWrites, 2);
  t.is(ledger.attempts, 4);
  t.is(ledger.judge('f', 'c').verdict, 'ok');
  t.is(ledger.judge('f', 'd').verdict, 'ok');
  t.is(ledger.judge('f', 'a').verdict, 'rolled back');
  t.is(ledger.judge('f', 'b').verdict, 'rolled back');
  t.is(ledger.judge('f', 'x').verdict, 'lost');
  t.regex(ledger.judge('f', undefined).detail, /missing; attempt 2 was acknowledged/);
  // Empty is a state only of a later write that empties the file first.
  t.is(ledger.judge('f', EMPTY_HASH).verdict, 'lost');
  ledger.begin('f', 'e', { truncates: true });
  t.is(ledger.judge('f', EMPTY_HASH).verdict, 'ok');
  const e = ledger.begin('f', 'e2', { truncates: true });
  ledger.acknowledge('f', e);
  t.is(ledger.judge('f', EMPTY_HASH).verdict, 'lost');
  // A file never acknowledged is not checked.
  ledger.begin('g', 'y');
  t.deepEqual(ledger.checkedFiles(), ['f']);
  t.throws(() => ledger.acknowledge('g', 5), { instanceOf: RangeError });
  t.is(summaryLine(3, 2, 0, 1), 'soak: 3 trials, 2 acknowledged writes, 0 lost, 1 rolled back');
});

test('a round plan is the same for the same seed and never has more than maxDown servers down', (t) => {
  const input = {
    servers: 10,
    mounts: 2,
    puts: 2,
    activeMs: 120_000,
    maxDown: 3,
    serverFaults: ['kill', 'stall', 'partition'] as const,
  };
  const plan = planRound(prng(42), input);
  t.deepEqual(planRound(prng(42), input), plan);
  t.notDeepEqual(planRound(prng(43), input), plan);
  const server = plan.flatMap((e) => ('server' in e ? [e] : []));
  t.true(server.length > 10);
  t.true(plan.some((e) => 'writer' in e));
  for (const e of server) {
    const down = server.filter((o) => o.atMs <= e.atMs && e.atMs < o.atMs + o.forMs);
    t.true(down.length <= 3, `${down.length} down at ${e.atMs}`);
    t.is(new Set(down.map((d) => d.server)).size, down.length, 'one fault per server at a time');
  }
});
