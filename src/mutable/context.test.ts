import test from 'ava';
import { randomBytes } from 'node:crypto';
import { leaseSecretsFor, scheduleWriteEnabler } from '../crypto/derive.js';
import type { StorageClient } from '../grid/storage-client.js';
import { fileContext, slotSecrets } from './context.js';

// slotSecrets reads only a server's id (and fileContext its permutation seed): plain
// records stand in for storage clients here, as no request is made.
function servers(count: number): StorageClient[] {
  return Array.from({ length: count }, (_, i) => {
    const serverId = new Uint8Array(randomBytes(20));
    return { name: `server-${i}`, serverId, permutationSeed: serverId } as unknown as StorageClient;
  });
}

for (const format of ['ed25519', 'sdmf'] as const) {
  test(`${format}: remembered slot secrets equal the key schedule's, per server and file`, (t) => {
    const all = servers(4);
    const leaseSecret = new Uint8Array(randomBytes(32));
    const files = [0, 1].map(() => {
      const keys = {
        format,
        fingerprint: new Uint8Array(randomBytes(32)),
        storageIndex: new Uint8Array(randomBytes(16)),
        writekey: new Uint8Array(randomBytes(16)),
      };
      return fileContext(keys, all, leaseSecret);
    });
    for (const ctx of files) {
      for (const server of all) {
        const lease = leaseSecretsFor(leaseSecret, ctx.keys.storageIndex, server.serverId);
        const expected = {
          writeEnabler: scheduleWriteEnabler(format, ctx.keys.writekey!, server.serverId),
          leaseRenewSecret: lease.renew,
          leaseCancelSecret: lease.cancel,
        };
        t.deepEqual(slotSecrets(ctx, server), expected);
        t.deepEqual(slotSecrets(ctx, server), expected, 'the second time, from memory');
      }
    }
    t.notDeepEqual(slotSecrets(files[0], all[0]), slotSecrets(files[1], all[0]));
    t.notDeepEqual(slotSecrets(files[0], all[0]), slotSecrets(files[0], all[1]));
  });
}

test('slot secrets of another lease secret are not taken from memory', (t) => {
  const all = servers(1);
  const keys = {
    format: 'ed25519' as const,
    fingerprint: new Uint8Array(32),
    storageIndex: new Uint8Array(16),
    writekey: new Uint8Array(16),
  };
  const a = slotSecrets(fileContext(keys, all, new Uint8Array(32).fill(1)), all[0]);
  const b = slotSecrets(fileContext(keys, all, new Uint8Array(32).fill(2)), all[0]);
  t.deepEqual(a.writeEnabler, b.writeEnabler);
  t.notDeepEqual(a.leaseRenewSecret, b.leaseRenewSecret);
  t.notDeepEqual(a.leaseCancelSecret, b.leaseCancelSecret);
});

test('slot secrets need the writekey', (t) => {
  const all = servers(1);
  const ctx = fileContext(
    { format: 'sdmf', fingerprint: new Uint8Array(32), storageIndex: new Uint8Array(16) },
    all,
    new Uint8Array(32),
  );
  t.throws(() => slotSecrets(ctx, all[0]), { message: /writekey/ });
});
