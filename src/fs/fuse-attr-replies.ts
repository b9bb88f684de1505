// Attributes handed back with the operations that change an entry. After create, mkdir,
// symlink, link and every setattr (chmod, chown, utimens, truncate), libfuse asks getattr
// before it answers the kernel: one more trip from its thread to Node's main thread and
// back, 4 of the 17 a file costs in `tar x`. With the binding's attribute fix
// (scripts/build-fuse.js) the handler's answer may carry the entry's new attributes, and
// the binding answers that getattr with them itself. fuse-native's own wrappers drop every
// value after the error of these operations, so this subclass replaces them.
//
// getattr's answer likewise carries how long it stays good (ms, 0: not at all): the
// binding's attribute table (scripts/build-fuse.js, fourth fix) answers later getattrs of
// that path itself until then, or until any operation that may change something.
import type { Stat } from './nodes.js';

/** The operations whose answer may carry attributes, and which argument names the entry. */
export const ATTR_REPLY_OPS: ReadonlyMap<string, number> = new Map([
  ['create', 0],
  ['mkdir', 0],
  ['chmod', 0],
  ['chown', 0],
  ['utimens', 0],
  ['truncate', 0],
  ['ftruncate', 0],
  // fuse-native passes (target, link path) to symlink and (existing, new) to link.
  ['symlink', 1],
  ['link', 1],
]);

const TWO_TO_32 = 4294967296;

/** A Stat as the binding reads it (fuse-native's layout: 18 uint32, 64-bit values low first). */
export function statArray(st: Stat): Uint32Array {
  const ints = new Uint32Array(18);
  const put64 = (at: number, n: number) => {
    const v = Math.max(0, Math.floor(n));
    ints[at] = v % TWO_TO_32;
    ints[at + 1] = Math.floor(v / TWO_TO_32);
  };
  ints[0] = st.mode;
  ints[1] = st.uid;
  ints[2] = st.gid;
  put64(3, st.size);
  ints[5] = 0; // dev
  ints[6] = st.nlink;
  ints[7] = 0; // ino: libfuse numbers its nodes itself
  ints[8] = 0; // rdev
  ints[9] = st.blksize;
  put64(10, st.blocks);
  put64(12, st.atime);
  put64(14, st.mtime);
  put64(16, st.ctime);
  return ints;
}

/** fuse-native's answer function (its `signal`), and the callbacks our handlers call. */
type Callback = (err: number, ...values: unknown[]) => void;
type Handlers = Record<string, (...args: unknown[]) => void>;

/** What of fuse-native's class this relies on: its handlers as `ops`. */
interface FuseLike {
  ops: Handlers;
}

// fuse-native passes 64-bit numbers as two uint32 halves.
const joined = (low: number, high: number) => low + high * TWO_TO_32;

const attrs = (st: unknown) => (st ? statArray(st as Stat) : undefined);

/** A handler's callback that hands the attributes it is given on to the binding. */
const passing =
  (signal: Callback): Callback =>
  (err, st) =>
    signal(err, attrs(st));

/** fuse-native's class with wrappers that pass attributes on to the binding. */
export function withAttrReplies<C extends new (...args: never[]) => object>(Fuse: C): C {
  // The wrappers mirror fuse-native's (index.js, `_op_<name>`), plus the attributes.
  const Replying = class extends (Fuse as unknown as new (...args: unknown[]) => FuseLike) {
    _op_getattr(signal: Callback, path: string) {
      this.ops.getattr(path, (err: number, st: unknown, ms: unknown) =>
        signal(err, err ? new Uint32Array(18) : statArray(st as Stat), ms ?? 0),
      );
    }
    _op_create(signal: Callback, path: string, mode: number) {
      const done: Callback = (err, fd, st) => signal(err, fd, attrs(st));
      this.ops.create(path, mode, done);
    }
    _op_mkdir(signal: Callback, path: string, mode: number) {
      this.ops.mkdir(path, mode, passing(signal));
    }
    _op_chmod(signal: Callback, path: string, mode: number) {
      this.ops.chmod(path, mode, passing(signal));
    }
    _op_chown(signal: Callback, path: string, uid: number, gid: number) {
      this.ops.chown(path, uid, gid, passing(signal));
    }
    _op_utimens(
      signal: Callback,
      path: string,
      aLo: number,
      aHi: number,
      mLo: number,
      mHi: number,
    ) {
      this.ops.utimens(path, joined(aLo, aHi), joined(mLo, mHi), passing(signal));
    }
    _op_truncate(signal: Callback, path: string, low: number, high: number) {
      this.ops.truncate(path, joined(low, high), passing(signal));
    }
    _op_ftruncate(signal: Callback, path: string, fd: number, low: number, high: number) {
      this.ops.ftruncate(path, fd, joined(low, high), passing(signal));
    }
    _op_symlink(signal: Callback, target: string, path: string) {
      this.ops.symlink(target, path, passing(signal));
    }
    _op_link(signal: Callback, from: string, to: string) {
      this.ops.link(from, to, passing(signal));
    }
  };
  return Replying as unknown as C;
}
