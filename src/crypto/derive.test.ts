import test from 'ava';
import {
  TAGS,
  blockHash,
  clientCancelSecret,
  clientRenewalSecret,
  datakeyFromSalt,
  dirnodeChildKey,
  dirnodeChildSalt,
  fileCancelSecret,
  fileRenewalSecret,
  fingerprintFromPublicKey,
  leaseCancelSecret,
  leaseRenewSecret,
  leaseSecretsFor,
  readkeyFromWritekey,
  storageIndexFromImmutableKey,
  storageIndexFromReadkey,
  writeEnabler,
  writeEnablerMaster,
  writekeyFromPrivateKey,
} from './derive.js';
import { taggedHash } from './hash.js';
import { fromBase32, toBase32 } from '../encoding/base32.js';
import { toHex, utf8 } from '../encoding/bytes.js';

const empty = new Uint8Array(0);
const zeros20 = new Uint8Array(20);
const b32 = toBase32;

// Known answers from tahoe-formats.md §1.6 (made by Tahoe's hashutil).
const KNOWN: Array<[string, () => Uint8Array, string]> = [
  [
    'block hash of empty',
    () => blockHash(empty),
    'msjr5bh4evuh7fa3zw7uovixfbvlnstr5b65mrerwfnvjxig2jvq',
  ],
  ['writekey of empty input', () => writekeyFromPrivateKey(empty), 'ykpgmdbpgbb6yqz5oluw2q26ye'],
  ['readkey of empty input', () => readkeyFromWritekey(empty), 'vugid4as6qbqgeq2xczvvcedai'],
  [
    'storage index of empty input',
    () => storageIndexFromReadkey(empty),
    'j7icz6kigb6hxrej3tv4z7ayym',
  ],
  [
    'fingerprint of empty input',
    () => fingerprintFromPublicKey(empty),
    '3opzw4hhm2sgncjx224qmt5ipqgagn7h5zivnfzqycvgqgmgz35q',
  ],
  [
    'data key (salt "iv", readkey "rk")',
    () => datakeyFromSalt(utf8('iv'), utf8('rk')),
    '73wsaldnvdzqaf7v4pzbr2ae5a',
  ],
  [
    'write-enabler master of empty input',
    () => writeEnablerMaster(empty),
    'izbfbfkoait4dummruol3gy2bnixrrrslgye6ycmkuyujnenzpia',
  ],
  [
    'write enabler (writekey "wk", 20 zero bytes)',
    () => writeEnabler(utf8('wk'), zeros20),
    'fuu2dvx7g6gqu5x22vfhtyed7p4pd47y5hgxbqzgrlyvxoev62tq',
  ],
  [
    'dirnode child key (salt "iv", writekey "wk")',
    () => dirnodeChildKey(utf8('iv'), utf8('wk')),
    '6rvn2iqrghii5n4jbbwwqqsnqu',
  ],
  [
    'client renewal secret of empty lease secret',
    () => clientRenewalSecret(empty),
    'ujhr5k5f7ypkp67jkpx6jl4p47pyta7hu5m527cpcgvkafsefm6q',
  ],
  [
    'client cancel secret of empty lease secret',
    () => clientCancelSecret(empty),
    'rjwzmafe2duixvqy6h47f5wfrokdziry6zhx4smew4cj6iocsfaa',
  ],
  [
    'file renewal secret (empty, "si")',
    () => fileRenewalSecret(empty, utf8('si')),
    'hzshk2kf33gzbd5n3a6eszkf6q6o6kixmnag25pniusyaulqjnia',
  ],
  [
    'file cancel secret (empty, "si")',
    () => fileCancelSecret(empty, utf8('si')),
    'bfciwvr6w7wcavsngxzxsxxaszj72dej54n4tu2idzp6b74g255q',
  ],
  [
    'lease renew secret (empty, 20 zero bytes)',
    () => leaseRenewSecret(empty, zeros20),
    'e7imrzgzaoashsncacvy3oysdd2m5yvtooo4gmj4mjlopsazmvuq',
  ],
  [
    'lease cancel secret (empty, 20 zero bytes)',
    () => leaseCancelSecret(empty, zeros20),
    'dvdujeyxeirj6uux6g7xcf4lvesk632aulwkzjar7srildvtqwma',
  ],
];

for (const [name, compute, expected] of KNOWN) {
  test(`§1.6 ${name}`, (t) => {
    t.is(b32(compute()), expected);
  });
}

test('output sizes: 16-byte keys and SI, 32-byte fingerprint and secrets', (t) => {
  t.is(writekeyFromPrivateKey(empty).length, 16);
  t.is(readkeyFromWritekey(empty).length, 16);
  t.is(storageIndexFromReadkey(empty).length, 16);
  t.is(datakeyFromSalt(empty, empty).length, 16);
  t.is(dirnodeChildSalt(empty).length, 16);
  t.is(dirnodeChildKey(empty, empty).length, 16);
  t.is(fingerprintFromPublicKey(empty).length, 32);
  t.is(writeEnabler(empty, zeros20).length, 32);
});

test('dirnode child salt hashes the child cap with its tag', (t) => {
  const cap = utf8('URI:SSK:x:y');
  t.deepEqual(dirnodeChildSalt(cap), taggedHash(TAGS.dirnodeChildSalt, cap).subarray(0, 16));
});

test('container v2 magic suffix is c3 55 21 99 25 (§9.1)', (t) => {
  const suffix = taggedHash(TAGS.containerHeader, 'Tahoe mutable container v2\n', 5);
  t.is(toHex(suffix), 'c355219925');
});

// Full lease chain vectors from tahoe-formats.md §1.6 (lease secret, SI, serverid → renew).
const LEASE_CHAINS: Array<[string, string, string, string]> = [
  [
    'boity2cdh7jvl3ltaeebuiobbspjmbuopnwbde2yeh4k6x7jioga',
    'vrttmwlicrzbt7gh5qsooogr7u',
    'v67jiisoty6ooyxlql5fuucitqiok2ic',
    'osd6wmc5vz4g3ukg64sitmzlfiaaordutrez7oxdp5kkze7zp5zq',
  ],
  [
    'boity2cdh7jvl3ltaeebuiobbspjmbuopnwbde2yeh4k6x7jioga',
    '75gmmfts772ww4beiewc234o5e',
    'v67jiisoty6ooyxlql5fuucitqiok2ic',
    '35itmusj7qm2pfimh62snbyxp3imreofhx4djr7i2fweta75szda',
  ],
  [
    'boity2cdh7jvl3ltaeebuiobbspjmbuopnwbde2yeh4k6x7jioga',
    '75gmmfts772ww4beiewc234o5e',
    'lh5fhobkjrmkqjmkxhy3yaonoociggpz',
    'srrlruge47ws3lm53vgdxprgqb6bz7cdblnuovdgtfkqrygrjm4q',
  ],
  [
    'vacviff4xfqxsbp64tdr3frg3xnkcsuwt5jpyat2qxcm44bwu75a',
    '75gmmfts772ww4beiewc234o5e',
    'lh5fhobkjrmkqjmkxhy3yaonoociggpz',
    'b4jledjiqjqekbm2erekzqumqzblegxi23i5ojva7g7xmqqnl5pq',
  ],
];

LEASE_CHAINS.forEach(([secret, si, serverId, renew], i) => {
  test(`§1.6 lease chain vector ${i + 1}`, (t) => {
    const secrets = leaseSecretsFor(fromBase32(secret), fromBase32(si), fromBase32(serverId));
    t.is(b32(secrets.renew), renew);
    // The cancel secret follows the same chain with the cancel tags.
    const cancel = leaseCancelSecret(
      fileCancelSecret(clientCancelSecret(fromBase32(secret)), fromBase32(si)),
      fromBase32(serverId),
    );
    t.deepEqual(secrets.cancel, cancel);
    t.notDeepEqual(secrets.cancel, secrets.renew);
  });
});

// Tahoe's test_hashutil.py known answers for the immutable storage index.
test('immutable storage index known answers', (t) => {
  t.is(b32(storageIndexFromImmutableKey(empty)), 'qb5igbhcc5esa6lwqorsy7e6am');
  t.is(b32(storageIndexFromImmutableKey(utf8('x'.repeat(16)))), 'wvggbrnrezdpa5yayrgiw5nzja');
  t.is(
    b32(storageIndexFromImmutableKey(fromBase32('2ckv3dfzh6rgjis6ogfqhyxnzy'))),
    'aarbseqqrpsfowduchcjbonscq',
  );
});
