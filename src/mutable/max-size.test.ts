// The largest supported file, on its own small grid: 64 MiB is heavy (every update moves
// N/k × 64 MiB), so this file uses k = N = 3 to keep CI fast while still exercising the
// limit end to end on real servers.
import test from 'ava';
import { randomBytes } from 'node:crypto';
import { equalBytes } from '../encoding/bytes.js';
import { SdmfParameterError } from '../sdmf/errors.js';
import { MAX_SDMF_FILE_SIZE } from '../sdmf/layout.js';
import { MutableClient, newLeaseSecret } from './mutable-client.js';
import { TestGrid } from './test-support/test-grid.js';

let grid: TestGrid;
test.before(async () => {
  grid = await TestGrid.start(3);
});
test.after.always(async () => {
  await grid?.stop();
});

test('the largest supported file (64 MiB) round-trips; one byte more is refused before any upload', async (t) => {
  // Each server receives and fsyncs a 21 MiB share: allow for a slow, shared machine.
  const servers = grid.clients(180_000);
  t.teardown(() => Promise.allSettled(servers.map((s) => s.close())).then(() => undefined));
  const client = new MutableClient({
    servers,
    leaseSecret: newLeaseSecret(),
    k: 3,
    N: 3,
    happy: 3,
  });
  const tooBig = new Uint8Array(MAX_SDMF_FILE_SIZE + 1);
  const refused = await t.throwsAsync(client.create(tooBig), { instanceOf: SdmfParameterError });
  t.is(refused?.code, 'ERR_SDMF_FILE_TOO_LARGE');
  t.regex(refused?.message ?? '', /at most 67108864 bytes/);

  const largest = new Uint8Array(randomBytes(MAX_SDMF_FILE_SIZE));
  const created = await client.create(largest);
  t.true(equalBytes((await client.retrieve(created.cap)).plaintext, largest));
  largest[12345] ^= 0xff;
  const updated = await client.update(created.cap, largest);
  t.is(updated.seqnum, 2);
  t.true(equalBytes((await client.retrieve(created.cap)).plaintext, largest));
  await t.throwsAsync(client.update(created.cap, tooBig), { instanceOf: SdmfParameterError });
});
