// The journal on a full disk (a 256 KiB tmpfs): a record the disk refuses fails its call
// with ENOSPC and leaves nothing half-written, so the records before it and those written
// once space is back all replay. Needs root to mount; otherwise the test says so and passes.
import test from 'ava';
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm, rmdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WriteJournal } from './journal.js';

const meta = { parentCap: 'URI:DIR2:x:y', name: 'f' };

test('full disk: the refused record fails with ENOSPC; the journal stays whole', async (t) => {
  const mountpoint = await mkdtemp(join(tmpdir(), 'slotfs-journal-full-'));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=256k', 'tmpfs', mountpoint], {
      stdio: 'pipe',
    });
  } catch (err) {
    await rmdir(mountpoint);
    t.log(`SKIPPED: cannot mount a tmpfs here (${String(err).split('\n')[0]})`);
    t.pass();
    return;
  }
  const location = join(mountpoint, 'journal');
  const lines: string[] = [];
  let j = await WriteJournal.open(location, { log: (l) => lines.push(l) });
  try {
    await j.begin('a', meta, new Uint8Array(0));
    // Leave less room than one more record needs.
    await writeFile(join(mountpoint, 'filler'), new Uint8Array(200 * 1024)).catch(() => undefined);
    const chunk = new Uint8Array(8 * 1024).fill(7);
    let accepted = 0;
    let refused: NodeJS.ErrnoException | undefined;
    for (let i = 0; i < 64 && !refused; i++) {
      try {
        await j.write('a', accepted * chunk.length, chunk);
        accepted++;
      } catch (err) {
        refused = err as NodeJS.ErrnoException;
      }
    }
    t.is(refused?.code, 'ENOSPC');
    await rm(join(mountpoint, 'filler'));
    await j.write('a', accepted * chunk.length, new Uint8Array([1, 2, 3]));
    await j.close();
    j = await WriteJournal.open(location, { log: (l) => lines.push(l) });
    const [entry] = await j.entries();
    t.is(entry.contents.length, accepted * chunk.length + 3);
    t.deepEqual([...entry.contents.subarray(-3)], [1, 2, 3]);
    t.deepEqual(lines, [], 'no torn record was left to drop');
  } finally {
    await j.close().catch(() => undefined);
    execFileSync('umount', [mountpoint], { stdio: 'pipe' });
    await rmdir(mountpoint);
  }
});
