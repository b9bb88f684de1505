import test from 'ava';
import { happiness, planPlacement } from './placement.js';

const servers = (n: number) => Array.from({ length: n }, (_, i) => `s${i}`);
const writes = (plan: { writes: Map<string, number[]> }) => Object.fromEntries(plan.writes);

test('a new file puts share i on the i-th server of the permuted list', (t) => {
  const plan = planPlacement({ permuted: servers(10), N: 10, existing: new Map(), home: null });
  t.deepEqual(
    [...plan.writes].map(([s, n]) => [s, n]),
    servers(10).map((s, i) => [s, [i]]),
  );
  t.is(plan.extra, undefined);
  t.deepEqual(plan.surplus, []);
});

test('the home server (default: the first usable) gets an extra copy: N+1 shares', (t) => {
  const plan = planPlacement({ permuted: servers(10), N: 10, existing: new Map() });
  t.is(plan.home, 's0');
  t.is(plan.extra, 1);
  t.deepEqual(plan.writes.get('s0'), [0, 1]);
  t.deepEqual(plan.writes.get('s1'), [1]);
  const configured = planPlacement({
    permuted: servers(12),
    N: 10,
    existing: new Map(),
    home: 's11',
  });
  t.deepEqual(configured.writes.get('s11'), [0], 'a home without a share gets a copy of 0');
  t.is(configured.extra, 0);
  const failedHome = planPlacement({
    permuted: servers(4),
    N: 4,
    existing: new Map(),
    home: 's0',
    exclude: new Set(['s0']),
  });
  t.is(failedHome.home, 's1', 'an excluded home falls back to the first usable server');
  t.deepEqual(
    failedHome.writes.get('s1'),
    [0, 1, 3],
    'three servers for four shares, plus the extra',
  );
});

test('an existing extra copy stays in place and is not rebalanced away', (t) => {
  const existing = new Map(servers(10).map((s, i) => [s, i === 0 ? [0, 1] : [i]]));
  const plan = planPlacement({ permuted: servers(10), N: 10, existing });
  t.deepEqual(writes(plan), Object.fromEntries(existing));
  t.deepEqual(plan.surplus, []);
  // Even when the grid grew: the extra is not a surplus share.
  const grown = planPlacement({ permuted: servers(12), N: 10, existing });
  t.deepEqual(writes(grown), Object.fromEntries(existing));
});

test('with fewer servers than shares, shares double up round-robin', (t) => {
  const plan = planPlacement({ permuted: servers(3), N: 10, existing: new Map(), home: null });
  t.deepEqual(plan.writes.get('s0'), [0, 3, 6, 9]);
  t.deepEqual(plan.writes.get('s1'), [1, 4, 7]);
  t.deepEqual(plan.writes.get('s2'), [2, 5, 8]);
  t.deepEqual(plan.surplus, [], 'no empty server: nothing to rebalance');
});

test('existing shares are overwritten in place; homeless ones go to empty servers first', (t) => {
  const existing = new Map([
    ['s4', [0]],
    ['s5', [1, 2]],
  ]);
  const plan = planPlacement({ permuted: servers(6), N: 5, existing, home: null });
  t.deepEqual(plan.writes.get('s4'), [0]);
  t.deepEqual(plan.writes.get('s0'), [3]);
  t.deepEqual(plan.writes.get('s1'), [4]);
  // s5 held two while s2 held none: share 2 moves there, its old copy is surplus.
  t.deepEqual(plan.writes.get('s5'), [1]);
  t.deepEqual(plan.writes.get('s2'), [2]);
  t.deepEqual(plan.surplus, [{ server: 's5', shareNumber: 2, movedTo: 's2' }]);
});

test('rebalancing after the grid grew from 3 to 10 servers: one share each, plus the extra', (t) => {
  const small = planPlacement({ permuted: servers(3), N: 10, existing: new Map() });
  t.deepEqual(writes(small), { s0: [0, 1, 3, 6, 9], s1: [1, 4, 7], s2: [2, 5, 8] });
  // The new servers land anywhere in the permuted list.
  const grown = ['n0', 's0', 'n1', 'n2', 's1', 'n3', 'n4', 's2', 'n5', 'n6'];
  const plan = planPlacement({ permuted: grown, N: 10, existing: small.writes, home: 's0' });
  for (const [server, numbers] of plan.writes) {
    t.is(numbers.length, server === 's0' ? 2 : 1, `${server}: ${numbers.join(',')}`);
  }
  t.deepEqual(plan.writes.get('s0'), [0, 1]);
  t.is(plan.extra, 1);
  const all = new Set([...plan.writes.values()].flat());
  t.is(all.size, 10);
  t.is(plan.surplus.length, 7);
  for (const c of plan.surplus) {
    t.truthy(c.movedTo);
    t.deepEqual(plan.writes.get(c.movedTo!), [c.shareNumber]);
    t.false(plan.writes.get(c.server)!.includes(c.shareNumber));
  }
});

test('a surplus duplicate copy is dropped, not moved', (t) => {
  // s2 got a second copy of share 1 while s1 was away; s1 is back with share 1.
  const existing = new Map([
    ['s0', [0]],
    ['s1', [1]],
    ['s2', [1, 2]],
  ]);
  const plan = planPlacement({ permuted: servers(3), N: 3, existing, home: null });
  t.deepEqual(writes(plan), { s0: [0], s1: [1], s2: [2] });
  t.deepEqual(plan.surplus, [{ server: 's2', shareNumber: 1 }]);
});

test('excluded servers get nothing, and their shares are placed elsewhere', (t) => {
  const existing = new Map([['s0', [0]]]);
  const plan = planPlacement({
    permuted: servers(4),
    N: 4,
    existing,
    exclude: new Set(['s0', 's2']),
    home: null,
  });
  t.false(plan.writes.has('s0'));
  t.false(plan.writes.has('s2'));
  const all = [...plan.writes.values()].flat().sort();
  t.deepEqual(all, [0, 1, 2, 3]);
});

test('no usable servers gives an empty plan', (t) => {
  const plan = planPlacement({
    permuted: servers(2),
    N: 3,
    existing: new Map(),
    exclude: new Set(['s0', 's1']),
  });
  t.is(plan.writes.size, 0);
});

test('happiness is the size of a maximum matching of servers to share numbers', (t) => {
  t.is(happiness(new Map([['a', [0, 1, 2]]])), 1);
  t.is(
    happiness(
      new Map([
        ['a', [0, 1]],
        ['b', [0]],
      ]),
    ),
    2,
    'a must take 1 so that b can take 0',
  );
  t.is(
    happiness(
      new Map([
        ['a', [0]],
        ['b', [0]],
        ['c', [0, 1]],
      ]),
    ),
    2,
  );
  t.is(happiness(new Map(servers(10).map((s, i) => [s, [i]]))), 10);
  t.is(happiness(new Map()), 0);
});
