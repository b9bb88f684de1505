// Paths between fuse-native and SlotFs. With the binding's raw-path fix (scripts/
// build-fuse.js, SLOTFS_FUSE_RAW_PATHS=1) paths arrive as latin1 strings, one char per byte,
// and are decoded here; without it they arrive UTF-8-decoded, with every invalid byte
// already turned into U+FFFD.
//
// Directory entries are UTF-8 in Tahoe's format, so a name that is not valid UTF-8 cannot
// be stored as it is. It is refused (EILSEQ), not escaped: any escape into valid UTF-8
// would collide with a real name that looks like the escape, or need escaping itself, and
// would show Tahoe clients names nobody typed. Nothing is created or overwritten.
import { FsError } from './errno.js';

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });
const NON_ASCII = /[\u0080-\uffff]/;

/** A path (or name) from fuse-native as the Unicode string SlotFs works with. */
export function fromFusePath(path: string, raw: boolean): string {
  if (raw) {
    // Pure ASCII (the common case) is the same in both encodings.
    if (!NON_ASCII.test(path)) return path;
    try {
      return strictUtf8.decode(Buffer.from(path, 'latin1'));
    } catch {
      throw notUtf8(Buffer.from(path, 'latin1'));
    }
  }
  // Without raw paths an invalid byte and a real U+FFFD look the same: refuse both, since a
  // name holding U+FFFD could be any of many byte strings, which would all collide.
  if (path.includes('\ufffd')) throw notUtf8(Buffer.from(path));
  return path;
}

/** A name for readdir, in the form fuse-native expects. */
export function toFuseName(name: string, raw: boolean): string {
  if (!raw || !NON_ASCII.test(name)) return name;
  return Buffer.from(name, 'utf8').toString('latin1');
}

function notUtf8(bytes: Buffer): FsError {
  const shown = [...bytes]
    .map((b) =>
      b >= 0x20 && b < 0x7f && b !== 0x5c
        ? String.fromCharCode(b)
        : `\\x${b.toString(16).padStart(2, '0')}`,
    )
    .join('');
  return new FsError(
    'EILSEQ',
    `the path "${shown}" holds a name that is not valid UTF-8; slotfs stores names as UTF-8 (Tahoe's directory format), so nothing was created or changed — rename it to UTF-8 first (e.g. convmv -f latin1 -t utf8)`,
  );
}
