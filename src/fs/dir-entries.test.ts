import test from 'ava';
import { DirEntries, LinkIndex } from './dir-entries.js';

interface C {
  isDirectory: boolean;
  file?: string;
}
const file = (f: string): C => ({ isDirectory: false, file: f });
const dir: C = { isDirectory: true };

test('names of one file are counted across directories; replace, delete and clear uncount', (t) => {
  const index = new LinkIndex<C>((c) => c.file);
  const a = new DirEntries(index, 'dirA');
  const b = new DirEntries(index, 'dirB');
  a.set('x', file('F')).set('y', file('F')).set('sub', dir);
  b.set('z', file('F'));
  t.is(index.count('F'), 3);
  t.is(a.subdirectories, 1);
  t.deepEqual(
    index.placesOf('F').map((p) => `${p.dirCap}/${p.name}`),
    ['dirA/x', 'dirA/y', 'dirB/z'],
  );
  a.set('y', file('G')); // replaced by another file
  t.is(index.count('F'), 2);
  t.is(index.count('G'), 1);
  t.true(a.delete('x'));
  t.false(a.delete('x'));
  t.is(index.count('F'), 1);
  a.set('sub', file('F'));
  t.is(a.subdirectories, 0);
  b.clear();
  a.clear();
  t.is(index.count('F'), 0);
  t.is(index.count('G'), 0);
});

test('a new listing of a directory replaces the old one without losing its names', (t) => {
  const index = new LinkIndex<C>((c) => c.file);
  const old = new DirEntries(index, 'dirA');
  old.set('x', file('F')).set('gone', file('F'));
  const fresh = new DirEntries(index, 'dirA');
  fresh.set('x', file('F'));
  t.is(index.count('F'), 3);
  old.release();
  old.release(); // idempotent
  t.is(index.count('F'), 1);
  old.delete('x'); // a released listing no longer counts anything
  t.is(index.count('F'), 1);
  t.is(old.get('gone')?.file, 'F'); // but stays readable
});
