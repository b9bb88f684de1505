import test from 'ava';
import { planPlacement } from './placement.js';

const servers = (n: number) => Array.from({ length: n }, (_, i) => `s${i}`);

test('a new file puts share i on the i-th server of the permuted list', (t) => {
  const plan = planPlacement({ permuted: servers(10), N: 10, existing: new Map() });
  t.deepEqual(
    [...plan].map(([s, n]) => [s, n]),
    servers(10).map((s, i) => [s, [i]]),
  );
});

test('with fewer servers than shares, shares double up round-robin', (t) => {
  const plan = planPlacement({ permuted: servers(3), N: 10, existing: new Map() });
  t.deepEqual(plan.get('s0'), [0, 3, 6, 9]);
  t.deepEqual(plan.get('s1'), [1, 4, 7]);
  t.deepEqual(plan.get('s2'), [2, 5, 8]);
});

test('existing shares are overwritten in place and only homeless ones move', (t) => {
  const existing = new Map([
    ['s4', [0]],
    ['s5', [1, 2]],
  ]);
  const plan = planPlacement({ permuted: servers(6), N: 5, existing });
  t.deepEqual(plan.get('s4'), [0]);
  t.deepEqual(plan.get('s5'), [1, 2]);
  t.deepEqual(plan.get('s0'), [3]);
  t.deepEqual(plan.get('s1'), [4]);
  t.is(plan.get('s2'), undefined);
});

test('excluded servers get nothing, and their shares are placed elsewhere', (t) => {
  const existing = new Map([['s0', [0]]]);
  const plan = planPlacement({
    permuted: servers(4),
    N: 4,
    existing,
    exclude: new Set(['s0', 's2']),
  });
  t.false(plan.has('s0'));
  t.false(plan.has('s2'));
  const all = [...plan.values()].flat().sort();
  t.deepEqual(all, [0, 1, 2, 3]);
});

test('no usable servers gives an empty plan', (t) => {
  const plan = planPlacement({
    permuted: servers(2),
    N: 3,
    existing: new Map(),
    exclude: new Set(['s0', 's1']),
  });
  t.is(plan.size, 0);
});
