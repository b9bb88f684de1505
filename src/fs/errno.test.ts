import test from 'ava';
import { constants } from 'node:os';
import { DirectoryError } from '../dirnode/errors.js';
import { NotEnoughServersError, ReadOnlyCapError, RollbackError } from '../mutable/errors.js';
import { SdmfParameterError } from '../sdmf/errors.js';
import { parseCap } from '../caps/index.js';
import { Errno, FsError, describeFailure, errnoOf } from './errno.js';

const E = constants.errno;

test('the dirnode layer maps to the errno a user expects', (t) => {
  const dir = (
    code: ConstructorParameters<typeof DirectoryError>[0],
    problem?: 'too-long' | 'slash',
  ) => errnoOf(new DirectoryError(code, 'x', 'n', problem));
  t.is(dir('ERR_DIR_NOT_FOUND').errno, -E.ENOENT);
  t.is(dir('ERR_DIR_EXISTS').errno, -E.EEXIST);
  t.is(dir('ERR_DIR_READ_ONLY').errno, -E.EROFS);
  t.is(dir('ERR_DIR_NOT_DIRECTORY').errno, -E.ENOTDIR);
  t.is(dir('ERR_DIR_NAME', 'too-long').errno, -E.ENAMETOOLONG);
  t.is(dir('ERR_DIR_NAME', 'slash').errno, -E.EINVAL);
  t.false(dir('ERR_DIR_NOT_FOUND').failure, 'an absent name is an answer, not a failure');
});

test('grid failures are EIO and flagged for a log line', (t) => {
  const v = errnoOf(
    new NotEnoughServersError('publish failed', [{ server: 'server-1', outcome: 'down' }]),
  );
  t.deepEqual(v, { errno: -E.EIO, name: 'EIO', failure: true });
  t.is(errnoOf(new RollbackError('si', 5, 3, ['server-2'])).name, 'EIO');
  t.is(errnoOf(new Error('anything else')).name, 'EIO');
  t.true(errnoOf(new Error('anything else')).failure);
});

test('a full local disk is ENOSPC, flagged for a log line', (t) => {
  const full = Object.assign(new Error('ENOSPC: no space left on device, write'), {
    code: 'ENOSPC',
  });
  t.deepEqual(errnoOf(full), { errno: -E.ENOSPC, name: 'ENOSPC', failure: true });
});

test('read-only caps are EROFS, oversized files EFBIG, bad caps EINVAL', (t) => {
  t.is(errnoOf(new ReadOnlyCapError('update')).errno, -E.EROFS);
  t.is(errnoOf(new SdmfParameterError('ERR_SDMF_FILE_TOO_LARGE', 'big')).errno, -E.EFBIG);
  const capError = t.throws(() => parseCap('URI:SSK:nonsense'));
  t.is(errnoOf(capError).errno, -E.EINVAL);
});

test('FsError (ERR_FS) carries its own errno; EIO ones are failures', (t) => {
  t.is(new FsError('ENOENT', 'gone').code, 'ERR_FS');
  t.deepEqual(errnoOf(new FsError('ENOTEMPTY', 'x')), {
    errno: Errno.ENOTEMPTY,
    name: 'ENOTEMPTY',
    failure: false,
  });
  t.true(errnoOf(new FsError('EIO', 'x')).failure);
});

test('describeFailure is one line with the code', (t) => {
  const line = describeFailure(
    new NotEnoughServersError('publish of f failed', [
      { server: 'server-3', outcome: 'ERR_SERVER_TIMEOUT' },
    ]),
  );
  t.false(line.includes('\n'));
  t.regex(line, /^ERR_NOT_ENOUGH_SERVERS: publish of f failed.*server-3/);
  t.is(describeFailure('plain'), 'plain');
});
