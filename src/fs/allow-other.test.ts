import test from 'ava';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { allowOtherProblem, checkAllowOther } from './allow-other.js';

test('root may always ask for allow_other', (t) => {
  t.is(allowOtherProblem(0, undefined), undefined);
});

test('other users need an uncommented user_allow_other line', (t) => {
  t.is(allowOtherProblem(1000, '# comment\nuser_allow_other\n'), undefined);
  t.is(allowOtherProblem(1000, '  user_allow_other  # yes\n'), undefined);
  t.regex(allowOtherProblem(1000, '#user_allow_other\n')!, /commented out.*echo user_allow_other/);
  t.regex(allowOtherProblem(1000, undefined, '/x/fuse.conf')!, /\/x\/fuse\.conf does not exist/);
});

test('checkAllowOther reads the file', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'slotfs-fuseconf-'));
  try {
    const conf = join(dir, 'fuse.conf');
    t.regex((await checkAllowOther(1000, conf))!, /does not exist/);
    await writeFile(conf, 'mount_max = 10\nuser_allow_other\n');
    t.is(await checkAllowOther(1000, conf), undefined);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
