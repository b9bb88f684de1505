import test from 'ava';
import {
  clientLabel,
  conflictCopiesToPrune,
  conflictName,
  conflictTimestamp,
  parseConflictCopy,
  splitExtension,
} from './conflict-name.js';

const when = new Date(Date.UTC(2026, 10, 24, 15, 30, 0));

test('keeps the extension: report.txt → report.conflict-20261124-153000-<client>.txt', (t) => {
  t.is(conflictName('report.txt', when, 'laptop'), 'report.conflict-20261124-153000-laptop.txt');
  t.is(conflictName('Makefile', when, 'laptop'), 'Makefile.conflict-20261124-153000-laptop');
  t.is(conflictName('.bashrc', when, 'laptop'), '.bashrc.conflict-20261124-153000-laptop');
  t.is(conflictName('a.tar.gz', when, 'x'), 'a.tar.conflict-20261124-153000-x.gz');
});

test('timestamps are UTC with zero padding', (t) => {
  t.is(conflictTimestamp(new Date(Date.UTC(2001, 0, 2, 3, 4, 5))), '20010102-030405');
});

test('client labels are safe in file names', (t) => {
  t.is(clientLabel('my laptop/home'), 'my-laptop-home');
  t.is(clientLabel('///'), 'client');
  t.is(clientLabel('a'.repeat(40)).length, 24);
});

test('a name already taken gets a counter', (t) => {
  const taken = new Set(['r.conflict-20261124-153000-x.txt', 'r.conflict-20261124-153000-x-2.txt']);
  t.is(
    conflictName('r.txt', when, 'x', (n) => taken.has(n)),
    'r.conflict-20261124-153000-x-3.txt',
  );
});

test('long names are shortened to fit 255 bytes, keeping suffix and extension', (t) => {
  const name = 'é'.repeat(120) + '.txt'; // 244 bytes
  const copy = conflictName(name, when, 'client');
  t.true(Buffer.byteLength(copy) <= 255);
  t.true(copy.endsWith('.conflict-20261124-153000-client.txt'));
  t.true(copy.startsWith('éé'));
});

test('extension rules', (t) => {
  t.deepEqual(splitExtension('a.'), ['a.', '']);
  t.deepEqual(splitExtension('notes.verylongextensionnotreally'), [
    'notes.verylongextensionnotreally',
    '',
  ]);
});

test('parses its own copies and only those', (t) => {
  t.deepEqual(parseConflictCopy('r.txt', 'r.conflict-20261124-153000-x-2.txt'), {
    stamp: '20261124-153000',
    counter: 2,
  });
  t.is(parseConflictCopy('r.txt', 'other.conflict-20261124-153000-x.txt'), undefined);
  t.is(parseConflictCopy('r.txt', 'r.conflict-20261124-153000-x.md'), undefined);
  t.is(parseConflictCopy('r.txt', 'r.txt'), undefined);
});

test('prunes the oldest copies beyond the limit', (t) => {
  const names = [
    'r.txt',
    'r.conflict-20261124-153003-b.txt',
    'r.conflict-20261124-153001-a.txt',
    'r.conflict-20261124-153002-a.txt',
    'r.conflict-20261124-153001-a-2.txt',
    'unrelated.txt',
  ];
  t.deepEqual(conflictCopiesToPrune('r.txt', names, 2), [
    'r.conflict-20261124-153001-a.txt',
    'r.conflict-20261124-153001-a-2.txt',
  ]);
  t.deepEqual(conflictCopiesToPrune('r.txt', names, 10), []);
});
