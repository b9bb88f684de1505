import test from 'ava';
import { fc, testProp } from '@fast-check/ava';
import {
  capsFromPrivateKey,
  leaseSecretsForCap,
  parseMutableCap,
  parseReadCap,
  parseWriteCap,
  readCapOf,
  requireMutableCap,
  requireReadCap,
  requireWriteCap,
  storageIndexFromBase32,
  storageIndexOf,
  storageIndexToBase32,
  verifyCapOf,
  withDirectory,
  writeCapFromKeyPair,
  writeCapFromKeys,
  writeEnablerFor,
} from './derive.js';
import { CapError, type CapErrorCode } from './errors.js';
import { formatCap, parseCap } from './parse.js';
import type { MutableWriteCap } from './types.js';
import { leaseSecretsFor, writeEnabler } from '../crypto/derive.js';
import { KeyFormatError, generateRsaKeyPair } from '../crypto/rsa.js';
import { fromBase32, toBase32 } from '../encoding/base32.js';
import { utf8 } from '../encoding/bytes.js';

const WK = 'gmjgofw6gan57gwpsow6gtrz3e';
const FP = '5adm6fayxmu3e4lkmfvt6lkkfix34ai2wop2ioqr4bgvvhiol3kq';
const WRITE = `URI:SSK:${WK}:${FP}`;
const READ = `URI:SSK-RO:mwn7uhppzsx62wgyls3mbqvl4a:${FP}`;
const VERIFY = `URI:SSK-Verifier:nxq4vhp7ifntsc4ycuciy5lxt4:${FP}`;
const CHK =
  'URI:CHK:6nmrpsubgbe57udnexlkiwzmlu:bjt7j6hshrlmadjyr7otq3dc24end5meo5xcr5xe5r663po6itmq:3:10:7277';

type Ctx = import('ava').ExecutionContext;
function expectError(t: Ctx, fn: () => unknown, code: CapErrorCode, message?: RegExp) {
  const err = t.throws(fn, { instanceOf: CapError });
  t.is(err?.code, code, err?.message);
  if (message) t.regex(err!.message, message);
}

test('write → read → verify, for files and directories, SDMF and MDMF', (t) => {
  for (const [w, r, v] of [
    ['SSK', 'SSK-RO', 'SSK-Verifier'],
    ['DIR2', 'DIR2-RO', 'DIR2-Verifier'],
    ['MDMF', 'MDMF-RO', 'MDMF-Verifier'],
    ['DIR2-MDMF', 'DIR2-MDMF-RO', 'DIR2-MDMF-Verifier'],
  ]) {
    const write = parseWriteCap(WRITE.replace('URI:SSK:', `URI:${w}:`));
    const read = readCapOf(write);
    t.is(formatCap(read), READ.replace('URI:SSK-RO:', `URI:${r}:`));
    t.is(formatCap(verifyCapOf(write)), VERIFY.replace('URI:SSK-Verifier:', `URI:${v}:`));
    t.is(formatCap(verifyCapOf(read)), formatCap(verifyCapOf(write)));
    t.is(readCapOf(read), read, 'a read cap is its own read cap');
    const verify = verifyCapOf(read);
    t.is(verifyCapOf(verify), verify);
  }
});

test('derived caps drop MDMF extra fields, as Tahoe does', (t) => {
  const write = parseWriteCap(`URI:MDMF:${WK}:${FP}:3:131073`);
  t.is(formatCap(readCapOf(write)), READ.replace('URI:SSK-RO:', 'URI:MDMF-RO:'));
});

test('withDirectory swaps the prefix and nothing else', (t) => {
  const write = parseWriteCap(WRITE);
  t.is(formatCap(withDirectory(write, true)), WRITE.replace('URI:SSK:', 'URI:DIR2:'));
  t.is(formatCap(withDirectory(withDirectory(write, true), false)), WRITE);
  t.is(formatCap(withDirectory(parseCap(CHK), true)), CHK.replace('URI:CHK:', 'URI:DIR2-CHK:'));
});

test('CHK verify cap; literal caps have none', (t) => {
  const chk = parseCap(CHK);
  const verifier = verifyCapOf(chk);
  t.is(
    formatCap(verifier),
    `URI:CHK-Verifier:${toBase32(storageIndexOf(chk))}:${CHK.split(':').slice(3).join(':')}`,
  );
  expectError(t, () => verifyCapOf(parseCap('URI:LIT:nbswy3dp')), 'ERR_CAP_UNSUPPORTED', /LIT/);
  expectError(t, () => storageIndexOf(parseCap('URI:LIT:')), 'ERR_CAP_UNSUPPORTED');
});

test('requireWriteCap / parseWriteCap: read and verify caps are not writeable', (t) => {
  t.is(parseWriteCap(WRITE).kind, 'ssk-write');
  expectError(t, () => parseWriteCap(READ), 'ERR_CAP_NOT_WRITEABLE', /read cap \(URI:SSK-RO\)/);
  expectError(t, () => parseWriteCap(VERIFY), 'ERR_CAP_NOT_WRITEABLE', /verify cap/);
  expectError(
    t,
    () => requireWriteCap(parseCap(READ.replace('SSK-RO', 'DIR2-RO'))),
    'ERR_CAP_NOT_WRITEABLE',
    /use the URI:DIR2 write cap/,
  );
});

test('immutable and literal caps are recognised but not supported for writing', (t) => {
  expectError(
    t,
    () => parseWriteCap(CHK),
    'ERR_CAP_UNSUPPORTED',
    /only mutable \(SSK\/MDMF\) files for writing/,
  );
  expectError(t, () => parseWriteCap('URI:LIT:nbswy3dp'), 'ERR_CAP_UNSUPPORTED', /literal/);
  expectError(t, () => parseWriteCap('URI:DIR2-LIT:'), 'ERR_CAP_UNSUPPORTED');
  expectError(t, () => parseReadCap(CHK), 'ERR_CAP_UNSUPPORTED', /reading/);
  expectError(t, () => parseMutableCap(CHK), 'ERR_CAP_UNSUPPORTED');
});

test('requireReadCap: a verify cap cannot decrypt', (t) => {
  t.is(parseReadCap(WRITE).kind, 'ssk-write');
  t.is(parseReadCap(READ).kind, 'ssk-read');
  expectError(t, () => requireReadCap(parseCap(VERIFY)), 'ERR_CAP_NOT_READABLE', /cannot decrypt/);
  expectError(t, () => readCapOf(parseCap(VERIFY) as never), 'ERR_CAP_NOT_READABLE');
  t.is(requireMutableCap(parseCap(VERIFY)).kind, 'ssk-verify');
});

test('write enabler and lease secrets follow the §3 key schedule', (t) => {
  const cap = parseWriteCap(WRITE);
  const serverId = fromBase32('v67jiisoty6ooyxlql5fuucitqiok2ic');
  t.deepEqual(writeEnablerFor(cap, serverId), writeEnabler(fromBase32(WK), serverId));
  const leaseSecret = fromBase32('boity2cdh7jvl3ltaeebuiobbspjmbuopnwbde2yeh4k6x7jioga');
  const expected = leaseSecretsFor(leaseSecret, cap.storageIndex, serverId);
  // Every cap of the file gives the same lease secrets (they depend only on the SI).
  for (const text of [WRITE, READ, VERIFY]) {
    t.deepEqual(leaseSecretsForCap(parseCap(text), leaseSecret, serverId), expected);
  }
  t.deepEqual(
    leaseSecretsForCap(parseCap(CHK), leaseSecret, serverId),
    leaseSecretsFor(leaseSecret, storageIndexOf(parseCap(CHK)), serverId),
  );
});

test('ERR_CAP_ARGUMENT: wrong-size server ids, lease secrets and keys', (t) => {
  const cap = parseWriteCap(WRITE);
  expectError(t, () => writeEnablerFor(cap, new Uint8Array(32)), 'ERR_CAP_ARGUMENT', /serverId/);
  expectError(
    t,
    () => leaseSecretsForCap(cap, new Uint8Array(16), new Uint8Array(20)),
    'ERR_CAP_ARGUMENT',
    /leaseSecret must be 32 bytes, got 16/,
  );
  expectError(
    t,
    () => writeCapFromKeys(new Uint8Array(15), new Uint8Array(32)),
    'ERR_CAP_ARGUMENT',
  );
  expectError(
    t,
    () => writeCapFromKeys(new Uint8Array(16), new Uint8Array(16)),
    'ERR_CAP_ARGUMENT',
  );
  expectError(t, () => storageIndexToBase32(new Uint8Array(20)), 'ERR_CAP_ARGUMENT');
  expectError(
    t,
    () => writeEnablerFor(parseCap(READ) as MutableWriteCap, new Uint8Array(20)),
    'ERR_CAP_NOT_WRITEABLE',
  );
});

test('storage index text: si_b2a / si_a2b, strict', (t) => {
  const si = storageIndexFromBase32('nxq4vhp7ifntsc4ycuciy5lxt4');
  t.deepEqual(si, storageIndexOf(parseCap(VERIFY)));
  t.is(storageIndexToBase32(si), 'nxq4vhp7ifntsc4ycuciy5lxt4');
  expectError(t, () => storageIndexFromBase32('NXQ4VHP7IFNTSC4YCUCIY5LXT4'), 'ERR_CAP_BASE32');
  expectError(t, () => storageIndexFromBase32('nxq4vhp7ifntsc4ycuciy5lxt'), 'ERR_CAP_FIELD_LENGTH');
  expectError(
    t,
    () => storageIndexFromBase32('nxq4vhp7ifntsc4ycuciy5lxtb'),
    'ERR_CAP_TRAILING_BITS',
  );
});

test('writeCapFromKeyPair and capsFromPrivateKey agree on a fresh key', async (t) => {
  const keys = await generateRsaKeyPair(1024);
  const caps = capsFromPrivateKey(keys.privateKeyDer);
  t.is(caps.writeCap, formatCap(writeCapFromKeyPair(keys)));
  t.deepEqual(caps.keys, keys);
  t.is(caps.storageIndexBase32, toBase32(caps.storageIndex));
  t.is(parseCap(caps.readCap).kind, 'ssk-read');
  t.is(parseCap(caps.verifyCap).kind, 'ssk-verify');
});

test('capsFromPrivateKey refuses a non-key with KeyFormatError', (t) => {
  const err = t.throws(() => capsFromPrivateKey(utf8('not a key')), { instanceOf: KeyFormatError });
  t.is(err?.code, 'ERR_KEY_FORMAT');
});

testProp(
  'derivations commute with formatting for random keys',
  [
    fc.uint8Array({ minLength: 16, maxLength: 16 }),
    fc.uint8Array({ minLength: 32, maxLength: 32 }),
    fc.constantFrom('sdmf' as const, 'mdmf' as const),
    fc.boolean(),
  ],
  (t, writekey, fingerprint, format, directory) => {
    const write = writeCapFromKeys(writekey, fingerprint, { format, directory });
    const text = formatCap(write);
    t.deepEqual(parseCap(text), write);
    const read = readCapOf(write);
    t.deepEqual(parseCap(formatCap(read)), read);
    t.deepEqual(parseCap(formatCap(verifyCapOf(write))), verifyCapOf(read));
    t.deepEqual(read.storageIndex, write.storageIndex);
  },
);
