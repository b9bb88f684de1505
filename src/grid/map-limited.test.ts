import test from 'ava';
import { mapLimited } from './map-limited.js';

test('mapLimited keeps the order of the items and never runs more than the limit at once', async (t) => {
  let running = 0;
  let most = 0;
  const delays = [5, 1, 4, 0, 3, 2, 1];
  const out = await mapLimited(delays, 3, async (ms) => {
    running++;
    most = Math.max(most, running);
    await new Promise((resolve) => setTimeout(resolve, ms));
    running--;
    return ms * 10;
  });
  t.deepEqual(
    out,
    delays.map((ms) => ms * 10),
  );
  t.is(most, 3);
});

test('mapLimited over no items calls nothing', async (t) => {
  t.deepEqual(await mapLimited([], 4, () => Promise.reject(new Error('called'))), []);
});

test('mapLimited rejects with the first failure', async (t) => {
  const failing = mapLimited([1, 2, 3], 2, async (n) => {
    if (n === 2) throw new Error(`item ${n} failed`);
    return n;
  });
  await t.throwsAsync(failing, { message: 'item 2 failed' });
});
