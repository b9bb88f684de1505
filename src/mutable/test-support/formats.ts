// The file formats the mutable tests run on. Every test that applies to both formats runs
// on both; SLOTFS_FORMATS=ed25519 (or =tahoe) narrows a local run to one.
import test, { type ExecutionContext } from 'ava';
import { FILE_FORMATS, type FileFormat } from '../mutable-client.js';

export const FORMATS: readonly FileFormat[] = process.env.SLOTFS_FORMATS
  ? (process.env.SLOTFS_FORMATS.split(',') as FileFormat[]).filter((f) => FILE_FORMATS.includes(f))
  : FILE_FORMATS;

/** The write cap a new file of this format gets. */
export const WRITE_CAP: Record<FileFormat, RegExp> = {
  ed25519: /^URI:ED25519:[a-z2-7]{52}$/,
  tahoe: /^URI:SSK:[a-z2-7]{26}:[a-z2-7]{52}$/,
};

type Body = (t: ExecutionContext) => Promise<void> | void;

/** test.serial with the format in the title: `title [ed25519]`. */
export const serialFor =
  (format: FileFormat) =>
  (title: string, body: Body): void => {
    test.serial(`${title} [${format}]`, body);
  };

/** test (concurrent) with the format in the title. */
export const testFor =
  (format: FileFormat) =>
  (title: string, body: Body): void => {
    test(`${title} [${format}]`, body);
  };
