import test from 'ava';
import { DirSync } from './dir-sync.js';

/** A fake fsync that finishes when told to, recording what it synced. */
function fakeFsync() {
  const started: string[] = [];
  const finishers: Array<(err?: Error) => void> = [];
  const fsyncDir = (dir: string) =>
    new Promise<void>((ok, fail) => {
      started.push(dir);
      finishers.push((err) => (err ? fail(err) : ok()));
    });
  const finish = async (err?: Error) => {
    finishers.shift()!(err);
    for (let i = 0; i < 5; i++) await Promise.resolve();
  };
  return { started, fsyncDir, finish };
}

test('commits arriving during an fsync share the next one; none is answered by an earlier fsync', async (t) => {
  const f = fakeFsync();
  const sync = new DirSync(f.fsyncDir);
  const done: string[] = [];
  const first = sync.sync('/d').then(() => done.push('first'));
  // Renamed while the first fsync runs: it may not cover them.
  const a = sync.sync('/d').then(() => done.push('a'));
  const b = sync.sync('/d').then(() => done.push('b'));
  t.deepEqual(f.started, ['/d']);
  await f.finish();
  t.deepEqual(done, ['first']);
  t.deepEqual(f.started, ['/d', '/d'], 'one more fsync for both');
  await f.finish();
  await Promise.all([first, a, b]);
  t.deepEqual(done, ['first', 'a', 'b']);
  t.is(f.started.length, 2);
});

test('directories are synced independently; a failed fsync fails its waiters only', async (t) => {
  const f = fakeFsync();
  const sync = new DirSync(f.fsyncDir);
  const x = sync.sync('/x');
  const y = sync.sync('/y');
  t.deepEqual(f.started, ['/x', '/y']);
  const xAgain = sync.sync('/x');
  await f.finish(new Error('EIO'));
  await t.throwsAsync(x, { message: 'EIO' });
  t.deepEqual(f.started, ['/x', '/y', '/x'], 'the next one still runs');
  await f.finish();
  await f.finish();
  await y;
  await xAgain;
  t.pass();
});
