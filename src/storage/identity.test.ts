import test from 'ava';
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { toBase32 } from '../encoding/base32.js';
import { loadOrCreateIdentity } from './identity.js';

test('a new identity has a self-signed certificate that verifies and matches its key', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'slotfs-identity-'));
  try {
    const id = await loadOrCreateIdentity(dir);
    const cert = new X509Certificate(id.certPem);
    t.true(cert.verify(cert.publicKey), 'the signature verifies with its own key');
    t.true(cert.checkPrivateKey(createPrivateKey(id.keyPem)));
    t.is(cert.subject, `CN=slotfs storage ${toBase32(id.nodeId)}`);
    t.is(cert.issuer, cert.subject);
    t.true(new Date(cert.validTo).getTime() > Date.now() + 20 * 365 * 24 * 3600 * 1000);
    // Created once: a restart reads the same key and certificate back.
    const again = await loadOrCreateIdentity(dir);
    t.is(again.certPem, id.certPem);
    t.is(again.keyPem, id.keyPem);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
