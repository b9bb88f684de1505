// The file calls a storage server makes for every request. Everything but fsync is made
// synchronously on the event loop: these calls touch the page cache and take microseconds,
// while a trip through libuv's thread pool and back costs two thread wake-ups, which on a
// machine crowded with servers and a mount was most of a share write's CPU (measured with
// `npm run bench -- server-commit`). fsync waits for the disk and stays in the pool. The
// promise forms keep callers unchanged. File descriptors are plain numbers: every opener
// closes in a finally.
import {
  closeSync,
  fstatSync,
  fsync,
  ftruncateSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  readSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { promisify } from 'node:util';

/** `call`'s result as a promise: its exception becomes a rejection, as the async forms'. */
function now<A extends unknown[], R>(call: (...args: A) => R): (...args: A) => Promise<R> {
  return (...args: A) => {
    try {
      return Promise.resolve(call(...args));
    } catch (err) {
      return Promise.reject(err);
    }
  };
}

export const quickFs = {
  readdir: now((path: string) => readdirSync(path)),
  readFile: now((path: string) => readFileSync(path)),
  writeFile: now((path: string, data: Uint8Array, options?: { mode?: number; flag?: string }) =>
    writeFileSync(path, data, options),
  ),
  mkdir: now((path: string, options?: { recursive?: boolean; mode?: number }) =>
    mkdirSync(path, options),
  ),
  open: now((path: string, flags: string, mode?: number) => openSync(path, flags, mode)),
  close: now((fd: number) => closeSync(fd)),
  fsync: promisify(fsync),
  ftruncate: now((fd: number, length: number) => ftruncateSync(fd, length)),
  fstat: now((fd: number) => fstatSync(fd)),
  /** Reads into `buffer` from file position `position`; resolves the bytes read. */
  read: now((fd: number, buffer: Uint8Array, position: number) =>
    readSync(fd, buffer, 0, buffer.length, position),
  ),
  /** Writes all of `bytes` at file position `position`. */
  write: now((fd: number, bytes: Uint8Array, position: number) => {
    let done = 0;
    while (done < bytes.length) {
      done += writeSync(fd, bytes, done, bytes.length - done, position + done);
    }
  }),
};

/**
 * Reads the start of file `path` into `buffer` (as much as fits) in one synchronous step;
 * the bytes read, or undefined when there is no such file.
 */
export function readStartNow(path: string, buffer: Uint8Array): number | undefined {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    throw err;
  }
  try {
    return readSync(fd, buffer, 0, buffer.length, 0);
  } finally {
    closeSync(fd);
  }
}
