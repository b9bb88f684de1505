// The checks mount() makes before touching the grid or FUSE (the full mount is tested in
// mount-tests/, against real servers and a real FUSE mount).
import test from 'ava';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MountError, mount } from './mount.js';

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'slotfs-mount-'));
  try {
    await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

test('a mount point that does not exist: ERR_MOUNT_POINT, saying to create it', async (t) => {
  await withDir(async (dir) => {
    const err = await t.throwsAsync(mount({ mountpoint: join(dir, 'missing'), dir }));
    t.true(err instanceof MountError);
    t.is((err as MountError).code, 'ERR_MOUNT_POINT');
    t.regex(err!.message, /does not exist; create it first/);
  });
});

test('a mount point that is a file: ERR_MOUNT_POINT', async (t) => {
  await withDir(async (dir) => {
    await writeFile(join(dir, 'file'), 'x');
    const err = await t.throwsAsync(mount({ mountpoint: join(dir, 'file'), dir }));
    t.is((err as MountError).code, 'ERR_MOUNT_POINT');
    t.regex(err!.message, /is not a directory/);
  });
});

test('something already mounted there: ERR_MOUNT_BUSY', async (t) => {
  // /proc is a mount point on every Linux system.
  const err = await t.throwsAsync(mount({ mountpoint: '/proc' }));
  t.is((err as MountError).code, 'ERR_MOUNT_BUSY');
  t.regex(err!.message, /already mounted at \/proc/);
});

test('no usable FUSE device: ERR_MOUNT_FUSE, before anything is opened', async (t) => {
  await withDir(async (dir) => {
    const err = await t.throwsAsync(
      mount({ mountpoint: dir, dir: join(dir, 'client'), fuseDevice: join(dir, 'no-fuse') }),
    );
    t.is((err as MountError).code, 'ERR_MOUNT_FUSE');
    t.regex(err!.message, /FUSE is not available here/);
  });
});

test('allow-other without user_allow_other in fuse.conf (not root): ERR_MOUNT_FUSE saying what to add', async (t) => {
  await withDir(async (dir) => {
    const client = join(dir, 'client');
    await mkdir(client);
    await writeFile(
      join(client, 'config.toml'),
      `servers-file = ${JSON.stringify(join(dir, 'servers.yaml'))}\n[mount]\nallow-other = true\n`,
    );
    await writeFile(join(dir, 'fuse.conf'), '#user_allow_other\n');
    const err = await t.throwsAsync(
      mount({ mountpoint: dir, dir: client, uid: 1000, fuseConf: join(dir, 'fuse.conf') }),
    );
    t.is((err as MountError).code, 'ERR_MOUNT_FUSE');
    t.regex(err!.message, /user_allow_other/);
  });
});
