// `[mount] allow-other = true`: other users may use the mount (FUSE's allow_other; the
// kernel still checks each file's mode, since the mount keeps default_permissions). FUSE
// lets a user other than root ask for it only when /etc/fuse.conf says user_allow_other;
// without it the mount would fail with an obscure fusermount message, so it is checked first.
import { readFile } from 'node:fs/promises';

export const FUSE_CONF = '/etc/fuse.conf';

/** Why allow_other cannot be used by `uid` with this fuse.conf text, or undefined if it can. */
export function allowOtherProblem(
  uid: number,
  fuseConf: string | undefined,
  confPath = FUSE_CONF,
): string | undefined {
  if (uid === 0) return undefined;
  const enabled = (fuseConf ?? '')
    .split('\n')
    .some((line) => line.replace(/#.*/, '').trim() === 'user_allow_other');
  if (enabled) return undefined;
  return (
    `allow-other = true needs "user_allow_other" in ${confPath} when not mounting as root ` +
    `(${fuseConf === undefined ? `${confPath} does not exist` : 'the line is missing or commented out'}); ` +
    `add it (as root: echo user_allow_other >> ${confPath}) or set allow-other = false`
  );
}

/** Reads fuse.conf (undefined when absent) and checks it for `uid`. */
export async function checkAllowOther(
  uid: number,
  confPath = FUSE_CONF,
): Promise<string | undefined> {
  const text = await readFile(confPath, 'utf8').catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return undefined;
    throw err;
  });
  return allowOtherProblem(uid, text, confPath);
}
