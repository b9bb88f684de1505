import test from 'ava';
import { NotEnoughServersError, UnrecoverableFileError } from '../mutable/errors.js';
import { FsError } from './errno.js';
import { RepeatFilter, describeObject, summarizeFailure, summarizeServers } from './failure-log.js';

const SI = 'abcdefghijklmnopqrstuvwxyz';

test('objects are named by kind and path', (t) => {
  t.is(describeObject('/', 'root directory'), 'root directory /');
  t.is(describeObject('/a/b.txt', 'file'), 'file /a/b.txt');
  t.is(describeObject('/x', undefined), '/x');
});

test('servers are grouped by what they did, most common first, a few named', (t) => {
  const outcomes = [
    ...['s0', 's1', 's2', 's3', 's4'].map((server) => ({
      server,
      outcome: `ERR_SERVER_TIMEOUT: no answer within 8000 ms from ${server}`,
    })),
    { server: 's5', outcome: 'no shares' },
    { server: 's6', outcome: 'ERR_SERVER_REFUSED: connect ECONNREFUSED' },
  ];
  t.is(
    summarizeServers(outcomes),
    '5 ERR_SERVER_TIMEOUT (s0, s1, s2, +2); 1 no shares (s5); 1 ERR_SERVER_REFUSED (s6)',
  );
});

test('a grid failure: one line, the object instead of the storage index, servers summarised', (t) => {
  const servers = Array.from({ length: 10 }, (_, i) => ({
    server: `server-${i}`,
    outcome: 'ERR_SERVER_TIMEOUT: no answer within 8000 ms',
  }));
  const err = new NotEnoughServersError(
    `cannot read ${SI}: no version has k valid shares on the servers that answered well`,
    servers,
  );
  const line = summarizeFailure(err, 'root directory /');
  t.is(
    line,
    'ERR_NOT_ENOUGH_SERVERS: cannot read root directory /: no version has k valid shares on the servers that answered well; servers: 10 ERR_SERVER_TIMEOUT (server-0, server-1, server-2, +7)',
  );
  t.false(line.includes(SI));
  const gone = new UnrecoverableFileError(SI, 'no server holds any share of this file', []);
  t.is(
    summarizeFailure(gone, 'file /a.txt'),
    'ERR_UNRECOVERABLE: cannot read file /a.txt: no server holds any share of this file',
  );
  t.is(summarizeFailure(new FsError('EIO', 'x failed'), 'file /x'), 'ERR_FS: x failed');
});

test('the same failure of the same object is logged once per window, then with a count', (t) => {
  let now = 0;
  const f = new RepeatFilter(30_000, () => now);
  t.is(f.filter('getattr /', 'line'), 'line');
  now = 1000;
  t.is(f.filter('getattr /', 'line'), undefined);
  t.is(f.filter('getattr /', 'line'), undefined);
  t.is(f.filter('getattr /other', 'other'), 'other'); // another object: its own line
  now = 31_000;
  t.is(f.filter('getattr /', 'line'), 'line (2 more like it since 31 s ago not shown)');
  now = 62_000;
  t.is(f.filter('getattr /', 'line'), 'line'); // nothing left out in between
});
