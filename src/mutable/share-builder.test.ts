// Shares of large files are built on a worker thread and are as good as ones built in
// place; small files stay on this thread; a failing worker job falls back with its error
// type intact.
import test from 'ava';
import { fingerprintFromPublicKey, writekeyFromPrivateKey } from '../crypto/derive.js';
import { generateRsaKeyPair } from '../crypto/rsa.js';
import { decodeShares, SdmfParameterError, verifyShare, type CapKeys } from '../sdmf/index.js';
import {
  buildSharesAsync,
  OFF_THREAD_BYTES,
  shareBuilderStats,
  stopShareBuilder,
  warmShareBuilder,
} from './share-builder.js';

const keys = await generateRsaKeyPair();
const cap: CapKeys = {
  writekey: writekeyFromPrivateKey(keys.privateKeyDer),
  fingerprint: fingerprintFromPublicKey(keys.publicKeyDer),
};
const bytes = (n: number, seed: number) => {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = (i * 31 + seed) & 0xff;
  return out;
};

test.after.always(() => stopShareBuilder());

// First: the worker is not started by importing the module.
test.serial('warmShareBuilder starts the worker before any job; stopping ends it', async (t) => {
  t.false(shareBuilderStats().running);
  warmShareBuilder();
  t.true(shareBuilderStats().running);
  const before = shareBuilderStats();
  await buildSharesAsync(bytes(OFF_THREAD_BYTES, 9), keys, 1, 3, 10);
  t.is(shareBuilderStats().offThread, before.offThread + 1);
  await stopShareBuilder();
  t.false(shareBuilderStats().running);
});

test.serial(
  'a large file is built off the main thread, and its shares verify and decode',
  async (t) => {
    const before = shareBuilderStats();
    const plaintext = bytes(OFF_THREAD_BYTES * 4 + 5, 3);
    const built = await buildSharesAsync(plaintext, keys, 7, 3, 10);
    const after = shareBuilderStats();
    t.is(after.offThread, before.offThread + 1, after.lastFailure);
    t.is(after.onThread, before.onThread);
    t.is(built.seqnum, 7);
    t.is(built.shares.length, 10);
    for (const [n, share] of built.shares.entries())
      t.is(verifyShare(share, cap, n).shareNumber, n);
    const three = new Map([2, 5, 9].map((n) => [n, built.shares[n]]));
    t.deepEqual(decodeShares(cap, three), plaintext);
    // The caller's buffer is not handed away.
    t.is(plaintext.length, OFF_THREAD_BYTES * 4 + 5);
  },
);

test.serial('a small file is built in place', async (t) => {
  const before = shareBuilderStats();
  const plaintext = bytes(1000, 4);
  const built = await buildSharesAsync(plaintext, keys, 1, 3, 10);
  t.is(shareBuilderStats().onThread, before.onThread + 1);
  t.is(shareBuilderStats().offThread, before.offThread);
  t.deepEqual(decodeShares(cap, new Map([0, 1, 2].map((n) => [n, built.shares[n]]))), plaintext);
});

test.serial(
  'a job the worker cannot build is built here, so the error keeps its type',
  async (t) => {
    const before = shareBuilderStats();
    const err = await t.throwsAsync(buildSharesAsync(bytes(OFF_THREAD_BYTES, 5), keys, 1, 3, 300));
    t.true(err instanceof SdmfParameterError);
    t.is((err as SdmfParameterError).code, 'ERR_SDMF_PARAMS');
    const after = shareBuilderStats();
    t.is(after.fallbacks, before.fallbacks + 1);
    t.regex(after.lastFailure ?? '', /N=300/);
  },
);

test.serial('concurrent large builds all complete, each with its own contents', async (t) => {
  const inputs = [1, 2, 3, 4].map((seed) => bytes(OFF_THREAD_BYTES + seed, seed));
  const built = await Promise.all(inputs.map((p, i) => buildSharesAsync(p, keys, i + 1, 2, 4)));
  built.forEach((v, i) => {
    t.is(v.seqnum, i + 1);
    t.deepEqual(decodeShares(cap, new Map([0, 3].map((n) => [n, v.shares[n]]))), inputs[i]);
  });
});
