import test from 'ava';
import { PublishRate, progressBar, progressLine, reportProgress } from './progress.js';

test('PublishRate: publishes per second over the window, at least one second long', (t) => {
  let now = 100_000;
  const rate = new PublishRate(10_000, () => now);
  t.is(rate.perSecond(), 0);
  rate.note();
  t.is(rate.perSecond(), 1, 'one publish just now is 1/s, not 1000/s');
  for (let i = 0; i < 20; i++) {
    now += 250;
    rate.note();
  }
  t.is(rate.total, 21);
  t.is(rate.perSecond(), 21 / 5);
  now += 20_000;
  t.is(rate.perSecond(), 0, 'older than the window: forgotten');
  t.is(rate.total, 21);
});

test('progress line and bar: left, rate and an estimate', (t) => {
  t.is(
    progressLine({ left: 420, total: 1000, rate: 28 }),
    'slotfs: publishing: 420 of 1000 write-backs left, 28.0 files/s, about 15 s left',
  );
  t.is(
    progressLine({ left: 3, total: 3, rate: 0 }),
    'slotfs: publishing: 3 of 3 write-backs left, 0.0 files/s, estimating',
  );
  t.regex(progressLine({ left: 6000, total: 9000, rate: 20 }), /about 5 min left$/);
  t.is(
    progressBar({ left: 5, total: 10, rate: 2 }, 10),
    'publishing [#####-----] 5/10  2.0 files/s  about 3 s left',
  );
  t.regex(progressBar({ left: 0, total: 10, rate: 2 }, 10), /\[##########\] 10\/10 .* done$/);
});

test('reportProgress: a line at once when anything is left, then every interval; a bar on a terminal', async (t) => {
  let left = 4;
  const lines: string[] = [];
  const r = reportProgress(
    () => ({ left, rate: 2 }),
    {
      tty: false,
      line: (l) => lines.push(l),
      draw: () => t.fail('no drawing without a terminal'),
    },
    20,
  );
  t.deepEqual(lines, ['slotfs: publishing: 4 of 4 write-backs left, 2.0 files/s, about 2 s left']);
  left = 1;
  while (lines.length < 2) await new Promise((ok) => setTimeout(ok, 10));
  r.stop();
  t.is(lines[1], 'slotfs: publishing: 1 of 4 write-backs left, 2.0 files/s, about 1 s left');

  const drawn: string[] = [];
  const bar = reportProgress(() => ({ left: 2, rate: 1 }), {
    tty: true,
    line: () => t.fail('a bar, not lines, on a terminal'),
    draw: (d) => drawn.push(d),
  });
  bar.stop();
  t.deepEqual(drawn, [
    '\rpublishing [------------------------------] 0/2  1.0 files/s  about 2 s left\x1b[K',
    '\n',
  ]);

  const quiet = reportProgress(() => ({ left: 0, rate: 0 }), {
    tty: false,
    line: () => t.fail('nothing left: nothing printed at once'),
    draw: () => t.fail(),
  });
  quiet.stop();
});
