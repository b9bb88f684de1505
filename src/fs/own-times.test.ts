import test from 'ava';
import { OwnTimes } from './own-times.js';

function clocked() {
  let now = 1000;
  const times = new OwnTimes(() => now);
  return { times, at: (ms: number) => (now = ms) };
}

test('an entry this mount never changed shows its linkmotime', (t) => {
  const { times } = clocked();
  t.is(times.ctime('a', 500), 500);
  t.is(times.ctime(undefined, 500), 500);
});

test('the linkmotime of our own change does not move ctime, before or after it lands', (t) => {
  const { times, at } = clocked();
  const landed = times.changing('a', 1000, 400);
  // On its way: whatever the grid says (older, or ours already) shows the change's time.
  t.is(times.ctime('a', 400), 1000);
  t.is(times.ctime('a', 1200), 1000);
  at(1300);
  landed();
  t.is(times.ctime('a', 1250), 1000, 'written by our publish at 1250');
  t.is(times.ctime('a', 1300), 1000);
  // Another client's change after ours landed shows.
  t.is(times.ctime('a', 1400), 1400);
});

test('a change never shows an earlier ctime than the one shown before it', (t) => {
  const { times, at } = clocked();
  at(2000);
  times.changing('a', 1000)();
  // Another client (its clock ahead) changed it meanwhile: 5000 shows.
  t.is(times.ctime('a', 5000), 5000);
  at(3000);
  const landed = times.changing('a', 3000, 5000);
  t.is(times.ctime('a', 5000), 5000);
  at(6000);
  landed();
  t.is(times.ctime('a', 5500), 5000);
});

test('while any change of the entry is on its way, ctime stays ours', (t) => {
  const { times, at } = clocked();
  const first = times.changing('a', 1000);
  const second = times.changing('a', 1100);
  at(1200);
  first();
  t.is(times.ctime('a', 1500), 1100, 'the second change is still on its way');
  at(1600);
  second();
  t.is(times.ctime('a', 1500), 1100);
  t.is(times.ctime('a', 1700), 1700);
  second(); // calling twice changes nothing
  t.is(times.ctime('a', 1550), 1100);
});

test('forgets the oldest settled entries beyond its bound, never pending ones', (t) => {
  const times = new OwnTimes(() => 10, 2);
  const pending = times.changing('a', 1);
  times.changing('b', 2)();
  times.changing('c', 3)();
  t.is(times.size, 2);
  t.is(times.ctime('b', 5), 5, 'b was forgotten: its linkmotime shows');
  t.is(times.ctime('a', 5), 1);
  pending();
});
