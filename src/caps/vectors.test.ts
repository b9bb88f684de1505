// Caps made by Tahoe-LAFS itself (vectors/README.md), reproduced exactly.
import test from 'ava';
import { readFileSync } from 'node:fs';
import { createPrivateKey } from 'node:crypto';
import {
  capsFromPrivateKey,
  readCapOf,
  storageIndexOf,
  verifyCapOf,
  writeEnablerFor,
} from './derive.js';
import { formatCap, parseCap } from './parse.js';
import type { MutableCap } from './types.js';
import { fromBase32, toBase32 } from '../encoding/base32.js';

interface CapVector {
  format: 'sdmf' | 'mdmf';
  privateKeyPem: string;
  expectedCap: string;
}

const load = <T>(name: string) =>
  JSON.parse(readFileSync(new URL(`./vectors/${name}`, import.meta.url), 'utf8')) as T;

const all = load<CapVector[]>('tahoe-ssk-caps-all.json');
const some = load<CapVector[]>('tahoe-ssk-caps.json');

test('vector files hold 240 and 12 entries, SDMF and MDMF, PKCS#1 PEM keys', (t) => {
  t.is(all.length, 240);
  t.is(some.length, 12);
  t.is(all.filter((v) => v.format === 'sdmf').length, 120);
  t.true(all.every((v) => v.privateKeyPem.startsWith('-----BEGIN RSA PRIVATE KEY-----')));
});

function checkVector(t: import('ava').ExecutionContext, v: CapVector, i: number) {
  const caps = capsFromPrivateKey(v.privateKeyPem, { format: v.format });
  t.is(caps.writeCap, v.expectedCap, `entry ${i}`);
  const parsed = parseCap(v.expectedCap) as MutableCap;
  t.is(parsed.format, v.format);
  t.is(formatCap(parsed), v.expectedCap);
  t.is(caps.readCap, formatCap(readCapOf(caps.cap)));
  t.is(caps.verifyCap, formatCap(verifyCapOf(parsed)));
  t.is(caps.storageIndexBase32, toBase32(parsed.storageIndex));
}

test('all 240 Tahoe cap vectors (tahoe-ssk-caps-all.json) are reproduced exactly', (t) => {
  all.forEach((v, i) => checkVector(t, v, i));
});

test('the 12 Tahoe cap vectors (tahoe-ssk-caps.json) are reproduced exactly', (t) => {
  some.forEach((v, i) => checkVector(t, v, i));
});

test('the same key as PKCS#1 DER, PKCS#8 PEM and PKCS#8 DER gives the same caps', (t) => {
  for (const v of some.slice(0, 3)) {
    const key = createPrivateKey(v.privateKeyPem);
    const forms = [
      new Uint8Array(key.export({ type: 'pkcs1', format: 'der' })),
      key.export({ type: 'pkcs8', format: 'pem' }) as string,
      new Uint8Array(key.export({ type: 'pkcs8', format: 'der' })),
    ];
    for (const form of forms) {
      t.is(capsFromPrivateKey(form, { format: v.format }).writeCap, v.expectedCap);
    }
  }
});

test('capsFromPrivateKey: prefixes by format and directory, caps consistent', (t) => {
  const v = some[0];
  const body = v.expectedCap.slice(v.expectedCap.indexOf(':', 4));
  const dir = capsFromPrivateKey(v.privateKeyPem, { directory: true });
  t.is(dir.writeCap, 'URI:DIR2' + body);
  t.true(dir.readCap.startsWith('URI:DIR2-RO:'));
  t.true(dir.verifyCap.startsWith(`URI:DIR2-Verifier:${dir.storageIndexBase32}:`));
  const mdmf = capsFromPrivateKey(v.privateKeyPem, { format: 'mdmf', directory: true });
  t.is(mdmf.writeCap, 'URI:DIR2-MDMF' + body);
  t.deepEqual(mdmf.storageIndex, dir.storageIndex);
  t.is(dir.storageIndex.length, 16);
  t.is(dir.keys.publicKeyDer.length, 294);
});

interface InteropVector {
  writeCap: string;
  derivedWithDigestRules: {
    readCap: string;
    verifyCap: string;
    storageIndexBase32: string;
    containerWriteEnablerNodeIdBase32: string;
  };
  containersBase64: Record<string, string>;
}

test('§4 example: the real shares write cap → read cap → verify cap → SI', (t) => {
  const v = load<InteropVector>('tahoe-sdmf-interop-shares.json');
  const d = v.derivedWithDigestRules;
  const cap = parseCap(v.writeCap);
  if (cap.kind !== 'ssk-write') return t.fail();
  const read = readCapOf(cap);
  t.is(formatCap(read), d.readCap);
  t.is(
    formatCap(read),
    'URI:SSK-RO:mwn7uhppzsx62wgyls3mbqvl4a:5adm6fayxmu3e4lkmfvt6lkkfix34ai2wop2ioqr4bgvvhiol3kq',
  );
  t.is(formatCap(verifyCapOf(cap)), d.verifyCap);
  t.is(formatCap(verifyCapOf(read)), d.verifyCap);
  t.is(toBase32(cap.storageIndex), 'nxq4vhp7ifntsc4ycuciy5lxt4');
  t.is(toBase32(storageIndexOf(parseCap(d.readCap))), d.storageIndexBase32);
  // Each container stores WE(writekey, nodeid) at offset 52, the nodeid at 32 (§9.1).
  const nodeId = fromBase32(d.containerWriteEnablerNodeIdBase32);
  for (const base64 of Object.values(v.containersBase64)) {
    const container = new Uint8Array(Buffer.from(base64, 'base64'));
    t.deepEqual(container.subarray(32, 52), nodeId);
    t.deepEqual(writeEnablerFor(cap, nodeId), container.subarray(52, 84));
  }
});
