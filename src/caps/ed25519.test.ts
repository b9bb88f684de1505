// Ed25519 caps (docs/formats.md §3): every kind parses and formats back, derives
// write → read → verify offline, and every malformation has its typed error.
import test from 'ava';
import { CapError, type CapErrorCode } from './errors.js';
import { capKindName, formatCap, parseCap } from './parse.js';
import {
  capsFromSeed,
  ed25519KeysOf,
  readCapOf,
  requireReadCap,
  requireWriteCap,
  verifyCapOf,
  withDirectory,
  writeCapFromKeys,
  writeCapFromSeed,
  writeEnablerFor,
} from './derive.js';
import { ed25519WriteEnabler } from '../crypto/derive.js';
import { ed25519PublicKey, KeyFormatError } from '../crypto/index.js';
import { toBase32 } from '../encoding/base32.js';

const SEED = Uint8Array.from({ length: 32 }, (_, i) => 100 + i);
const caps = capsFromSeed(SEED);
const dirCaps = capsFromSeed(SEED, { directory: true });

function expectError(t: import('ava').ExecutionContext, text: string, code: CapErrorCode) {
  const e = t.throws(() => parseCap(text), { instanceOf: CapError });
  t.is(e.code, code, `${text}: ${e.message}`);
  t.false(e.message.includes(text.split(':').slice(2).join(':') || '\u0000'), 'no cap echoed');
  return e;
}

test('all six kinds: kind, format, directory, and format(parse(x)) === x', (t) => {
  const table: Array<[string, 'ssk-write' | 'ssk-read' | 'ssk-verify', boolean]> = [
    [caps.writeCap, 'ssk-write', false],
    [caps.readCap, 'ssk-read', false],
    [caps.verifyCap, 'ssk-verify', false],
    [dirCaps.writeCap, 'ssk-write', true],
    [dirCaps.readCap, 'ssk-read', true],
    [dirCaps.verifyCap, 'ssk-verify', true],
  ];
  for (const [text, kind, directory] of table) {
    const cap = parseCap(text);
    t.is(cap.kind, kind);
    t.is(cap.directory, directory);
    t.like(cap, { format: 'ed25519' });
    t.is(formatCap(cap), text);
    t.is(`URI:${capKindName(cap)}:`, text.slice(0, text.indexOf(':', 4) + 1));
  }
  t.regex(caps.writeCap, /^URI:ED25519:[a-z2-7]{51}[aq]$/);
  t.regex(caps.readCap, /^URI:ED25519-RO:[a-z2-7]{26}:[a-z2-7]{52}$/);
  t.regex(caps.verifyCap, /^URI:ED25519-Verifier:[a-z2-7]{26}:[a-z2-7]{52}$/);
  t.true(dirCaps.writeCap.startsWith('URI:DIR2-ED25519:'));
  t.true(dirCaps.readCap.startsWith('URI:DIR2-ED25519-RO:'));
  t.true(dirCaps.verifyCap.startsWith('URI:DIR2-ED25519-Verifier:'));
  t.is(formatCap(parseCap('ro.' + caps.readCap)), 'ro.' + caps.readCap);
});

test('write → read → verify without the grid; storage index and key agree', (t) => {
  const write = requireWriteCap(parseCap(caps.writeCap));
  t.deepEqual(write.seed, SEED);
  t.deepEqual(write.fingerprint, ed25519PublicKey(SEED));
  const read = readCapOf(write);
  t.is(formatCap(read), caps.readCap);
  t.is(formatCap(verifyCapOf(read)), caps.verifyCap);
  const parsedRead = requireReadCap(parseCap(caps.readCap));
  t.deepEqual(parsedRead.storageIndex, write.storageIndex);
  t.deepEqual(parseCap(caps.verifyCap), verifyCapOf(write));
  t.is(formatCap(withDirectory(write, true)), dirCaps.writeCap);
  t.deepEqual(ed25519KeysOf(write), { seed: SEED, publicKey: write.fingerprint });
  t.deepEqual(writeCapFromSeed(SEED), write);
  const server = new Uint8Array(20).fill(9);
  t.deepEqual(writeEnablerFor(write, server), ed25519WriteEnabler(write.writekey, server));
});

test('a changed verification key in a read cap names another storage index', (t) => {
  const read = requireReadCap(parseCap(caps.readCap));
  const otherKey = ed25519PublicKey(new Uint8Array(32).fill(1));
  const forged = parseCap(`URI:ED25519-RO:${toBase32(read.readkey)}:${toBase32(otherKey)}`);
  t.notDeepEqual((forged as typeof read).storageIndex, read.storageIndex);
});

test('every malformation has its typed error', (t) => {
  const seed = caps.writeCap.slice('URI:ED25519:'.length);
  const [rk, vk] = caps.readCap.slice('URI:ED25519-RO:'.length).split(':');
  expectError(t, 'URI:ED25519', 'ERR_CAP_FIELD_COUNT');
  expectError(t, `URI:ED25519:${seed}:${vk}`, 'ERR_CAP_FIELD_COUNT');
  expectError(t, `URI:ED25519-RO:${rk}`, 'ERR_CAP_FIELD_COUNT');
  expectError(t, `URI:DIR2-ED25519-Verifier:${rk}:${vk}:x`, 'ERR_CAP_FIELD_COUNT');
  expectError(t, `URI:ED25519:${seed.toUpperCase()}`, 'ERR_CAP_BASE32');
  expectError(t, `URI:ED25519-RO:${rk}:${vk.slice(0, 51)}1`, 'ERR_CAP_BASE32');
  expectError(t, `URI:ED25519:${seed.slice(1)}`, 'ERR_CAP_FIELD_LENGTH');
  expectError(t, `URI:ED25519-RO:${rk}a:${vk}`, 'ERR_CAP_FIELD_LENGTH');
  expectError(t, `URI:ED25519:${seed.slice(0, 51)}b`, 'ERR_CAP_TRAILING_BITS');
  expectError(t, `URI:ED25519-Verifier:${rk.slice(0, 25)}b:${vk}`, 'ERR_CAP_TRAILING_BITS');
  expectError(t, `ro.${caps.writeCap}`, 'ERR_CAP_MUST_BE_READONLY');
  expectError(t, `imm.${caps.readCap}`, 'ERR_CAP_MUST_BE_IMMUTABLE');
  expectError(t, `URI:ED25519-RW:${seed}`, 'ERR_CAP_UNKNOWN_PREFIX');
  const notWrite = t.throws(() => requireWriteCap(parseCap(caps.readCap)), {
    instanceOf: CapError,
  });
  t.is(notWrite.code, 'ERR_CAP_NOT_WRITEABLE');
  t.regex(notWrite.message, /URI:ED25519 write cap/);
  const notRead = t.throws(() => requireReadCap(parseCap(dirCaps.verifyCap)), {
    instanceOf: CapError,
  });
  t.is(notRead.code, 'ERR_CAP_NOT_READABLE');
});

test('formatting and derivation refuse what is not an Ed25519 write cap', (t) => {
  const write = requireWriteCap(parseCap(caps.writeCap));
  const { seed: _seed, ...seedless } = write;
  const e1 = t.throws(() => formatCap(seedless), { instanceOf: CapError });
  t.is(e1.code, 'ERR_CAP_FIELD_LENGTH');
  const e2 = t.throws(() => formatCap({ ...write, extraFields: ['x'] }), { instanceOf: CapError });
  t.is(e2.code, 'ERR_CAP_FIELD_COUNT');
  const e3 = t.throws(() => writeCapFromSeed(new Uint8Array(31)), { instanceOf: CapError });
  t.is(e3.code, 'ERR_CAP_ARGUMENT');
  const e4 = t.throws(
    () => writeCapFromKeys(new Uint8Array(16), new Uint8Array(32), { format: 'ed25519' }),
    { instanceOf: CapError },
  );
  t.is(e4.code, 'ERR_CAP_ARGUMENT');
  const sdmf = writeCapFromKeys(new Uint8Array(16), new Uint8Array(32));
  const e5 = t.throws(() => ed25519KeysOf(sdmf), { instanceOf: CapError });
  t.is(e5.code, 'ERR_CAP_ARGUMENT');
  const e6 = t.throws(() => ed25519PublicKey(new Uint8Array(5)), { instanceOf: KeyFormatError });
  t.is(e6.code, 'ERR_KEY_FORMAT');
});
