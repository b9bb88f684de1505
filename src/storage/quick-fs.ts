// The file calls a storage server makes for every request, in their callback forms wrapped
// as promises: they cost about half the CPU of fs.promises' (which makes a FileHandle, and
// its own promise plumbing, per call). File descriptors are plain numbers: every opener
// closes in a finally.
import {
  close,
  fstat,
  fsync,
  ftruncate,
  mkdir,
  open,
  read,
  readdir,
  readFile,
  write,
  writeFile,
} from 'node:fs';
import { promisify } from 'node:util';

export const quickFs = {
  readdir: promisify(readdir),
  readFile: promisify(readFile),
  writeFile: promisify(writeFile),
  mkdir: promisify(mkdir),
  open: promisify(open),
  close: promisify(close),
  fsync: promisify(fsync),
  ftruncate: promisify(ftruncate),
  fstat: promisify(fstat),
  /** Reads into `buffer` from file position `position`; resolves the bytes read. */
  read(fd: number, buffer: Uint8Array, position: number): Promise<number> {
    return new Promise((resolve, reject) => {
      read(fd, buffer, 0, buffer.length, position, (err, bytesRead) =>
        err ? reject(err) : resolve(bytesRead),
      );
    });
  },
  /** Writes all of `bytes` at file position `position`. */
  async write(fd: number, bytes: Uint8Array, position: number): Promise<void> {
    let done = 0;
    while (done < bytes.length) {
      done += await new Promise<number>((resolve, reject) => {
        write(fd, bytes, done, bytes.length - done, position + done, (err, written) =>
          err ? reject(err) : resolve(written),
        );
      });
    }
  },
};
