import test from 'ava';
import { setTimeout as sleep } from 'node:timers/promises';
import { Deadlines } from './deadlines.js';

test('a deadline not settled expires; settled ones never do', async (t) => {
  let clock = 0;
  const deadlines = new Deadlines(5, () => clock);
  const expired: string[] = [];
  const a = deadlines.add(() => expired.push('a'));
  deadlines.add(() => expired.push('b'));
  clock = 2;
  const c = deadlines.add(() => expired.push('c'));
  deadlines.settle(a);
  clock = 5;
  await sleep(20); // the timer fires; only b's time has come
  t.deepEqual(expired, ['b']);
  t.is(deadlines.size, 1);
  clock = 7;
  await sleep(20); // re-armed for c
  t.deepEqual(expired, ['b', 'c']);
  deadlines.settle(c); // too late: nothing happens
  t.is(deadlines.size, 0);
});

test('one failing expiry does not stop the others; close forgets them all', async (t) => {
  let clock = 0;
  const deadlines = new Deadlines(1, () => clock);
  const expired: string[] = [];
  deadlines.add(() => {
    throw new Error('boom');
  });
  deadlines.add(() => expired.push('second'));
  clock = 1;
  await sleep(20);
  t.deepEqual(expired, ['second']);
  deadlines.add(() => expired.push('third'));
  deadlines.close();
  clock = 10;
  await sleep(20);
  t.deepEqual(expired, ['second']);
});
