// Packing and unpacking a directory's child table (tahoe-formats.md §8): the plaintext of
// the directory's SDMF file. Pure: no I/O.
import { aesCtr } from '../crypto/aes.js';
import { tahoeHmac } from '../crypto/hash.js';
import { dirnodeChildKey, dirnodeChildSalt } from '../crypto/derive.js';
import { compareBytes, concatBytes, equalBytes, fromUtf8, utf8 } from '../encoding/bytes.js';
import { netstring, NetstringError, splitNetstrings } from '../encoding/netstring.js';
import { DirnodeFormatError } from './errors.js';
import { isPlainObject, serializeMetadata, type JsonObject } from './metadata-json.js';

/** One entry of a directory. */
export interface DirChild {
  /** Unicode name; stored NFC-normalised unless names are kept exact (NameOptions). */
  name: string;
  /** The child's write cap, if it has one and the reader may see it. */
  rwCap?: string;
  /** The child's read-only cap ('' if it has none); a leading `ro.` is dropped. */
  roCap: string;
  metadata: JsonObject;
}

const SALT_SIZE = 16;
const MAC_SIZE = 32;
const ALLEGED_READONLY = 'ro.';
const ALLEGED_IMMUTABLE = 'imm.';
const LONE_SURROGATE = /\p{Cs}/u;

function checkWriteKey(writeKey: Uint8Array): void {
  if (!(writeKey instanceof Uint8Array) || writeKey.length !== 16) {
    throw new DirnodeFormatError(
      'ERR_DIRNODE_WRITEKEY',
      `the directory writekey must be 16 bytes, got ${writeKey instanceof Uint8Array ? writeKey.length : typeof writeKey}`,
    );
  }
}

/** salt(16) ‖ AES-CTR(childkey)(rwCap) ‖ Tahoe-hmac(childkey, salt ‖ ciphertext) (§8.1). */
function encryptRwCap(writeKey: Uint8Array, rwCap: Uint8Array): Uint8Array {
  const salt = dirnodeChildSalt(rwCap);
  const key = dirnodeChildKey(salt, writeKey);
  const ciphertext = aesCtr(key, rwCap);
  return concatBytes(salt, ciphertext, tahoeHmac(key, concatBytes(salt, ciphertext)));
}

function decryptRwCap(writeKey: Uint8Array, data: Uint8Array, child: number): Uint8Array {
  if (data.length === 0) return data; // written without a writekey: no rw cap
  if (data.length < SALT_SIZE + MAC_SIZE) {
    throw new DirnodeFormatError(
      'ERR_DIRNODE_RWCAPDATA',
      `entry ${child}: rwcapdata is ${data.length} bytes, shorter than salt + MAC (48)`,
      child,
    );
  }
  const salt = data.subarray(0, SALT_SIZE);
  const ciphertext = data.subarray(SALT_SIZE, data.length - MAC_SIZE);
  const key = dirnodeChildKey(salt, writeKey);
  // Tahoe ≥ 1.3 writes but never checks this MAC; slotfs checks it, so a wrong writekey or
  // an altered entry is an error instead of a garbage write cap.
  if (
    !equalBytes(tahoeHmac(key, data.subarray(0, data.length - MAC_SIZE)), data.subarray(-MAC_SIZE))
  ) {
    throw new DirnodeFormatError(
      'ERR_DIRNODE_MAC',
      `entry ${child}: the MAC of the encrypted write cap does not match: the directory contents were altered or the writekey is not this directory's`,
      child,
    );
  }
  return aesCtr(key, ciphertext);
}

/**
 * How names are read and written. 'nfc' (Tahoe's rule, the default): normalised to NFC on
 * the way in and out, so names equal after NFC are one name. 'exact': kept as given, so
 * `café` (NFC) and `cafe\u0301` (NFD) are two names — what POSIX programs expect, which
 * compare names byte for byte (the mount uses it). Either way names are UTF-8, sorted by
 * code point.
 */
export type NameForm = 'nfc' | 'exact';

export interface NameOptions {
  names?: NameForm;
}

function normalizeName(name: unknown, child: number, form: NameForm): string {
  if (typeof name !== 'string' || LONE_SURROGATE.test(name)) {
    throw new DirnodeFormatError(
      'ERR_DIRNODE_NAME',
      `child ${child}: the name must be a string of Unicode characters (no lone UTF-16 surrogates)`,
      child,
    );
  }
  return form === 'nfc' ? name.normalize('NFC') : name;
}

export function duplicateNameError(name: string, child: number): DirnodeFormatError {
  return new DirnodeFormatError(
    'ERR_DIRNODE_DUPLICATE_NAME',
    `child ${child}: the name ${JSON.stringify(name)} occurs twice (names are compared after NFC normalisation, unless kept exact)`,
    child,
  );
}

/** One child packed: its (normalised) name, the name's UTF-8 bytes, and its entry netstring. */
export interface PackedEntry {
  name: string;
  nameBytes: Uint8Array;
  entry: Uint8Array;
  /** The child exactly as unpacking `entry` gives it back (caps and metadata normalised). */
  child: DirChild;
}

/**
 * Packs one child into its entry (netstring of name, ro cap, encrypted write cap,
 * metadata JSON), checking it; `index` only names the child in errors.
 */
export function packEntry(
  writeKey: Uint8Array,
  child: DirChild,
  index: number,
  form: NameForm = 'nfc',
): PackedEntry {
  const name = normalizeName(child.name, index, form);
  const rwCap = child.rwCap ?? '';
  if (rwCap.startsWith(ALLEGED_READONLY) || rwCap.startsWith(ALLEGED_IMMUTABLE)) {
    throw new DirnodeFormatError(
      'ERR_DIRNODE_CAP',
      `child ${JSON.stringify(name)}: its write cap carries the prefix ${JSON.stringify(rwCap.split('.')[0] + '.')}, which says it must not be a write cap`,
      index,
    );
  }
  if (typeof child.roCap !== 'string') {
    throw new DirnodeFormatError(
      'ERR_DIRNODE_CAP',
      `child ${JSON.stringify(name)}: roCap must be a string ('' for none)`,
      index,
    );
  }
  // The read-only context implies `ro.`; `imm.` is kept in a mutable directory (§8.1).
  const roCap = child.roCap.startsWith(ALLEGED_READONLY)
    ? child.roCap.slice(ALLEGED_READONLY.length)
    : child.roCap;
  if (!isPlainObject(child.metadata)) {
    throw new DirnodeFormatError(
      'ERR_DIRNODE_METADATA',
      `child ${JSON.stringify(name)}: metadata must be a plain JSON object`,
      index,
    );
  }
  let metadata: string;
  try {
    metadata = serializeMetadata(child.metadata);
  } catch (error) {
    if (error instanceof DirnodeFormatError) {
      throw new DirnodeFormatError(
        error.code,
        `child ${JSON.stringify(name)}: ${error.message}`,
        index,
      );
    }
    throw error;
  }
  const nameBytes = utf8(name);
  const entry = netstring(
    concatBytes(
      netstring(nameBytes),
      netstring(utf8(roCap)),
      netstring(encryptRwCap(writeKey, utf8(rwCap))),
      netstring(utf8(metadata)),
    ),
  );
  // What unpack() makes of these bytes, so a kept entry and its child always agree.
  const unpacked: DirChild = {
    name,
    roCap: stripTrailingSpaces(roCap),
    metadata: JSON.parse(metadata) as JsonObject,
  };
  const rw = stripTrailingSpaces(rwCap);
  if (rw) unpacked.rwCap = rw;
  return { name, nameBytes, entry, child: unpacked };
}

/**
 * Packs a directory's children: names NFC-normalised and sorted by code point, write caps
 * encrypted and MACed under the directory's 16-byte writekey, metadata as Tahoe's JSON.
 * Deterministic: the same children always pack to the same bytes.
 */
export function packChildren(
  writeKey: Uint8Array,
  children: Iterable<DirChild>,
  options: NameOptions = {},
): Uint8Array {
  checkWriteKey(writeKey);
  const entries: PackedEntry[] = [];
  const seen = new Set<string>();
  let index = 0;
  for (const child of children) {
    const packed = packEntry(writeKey, child, index, options.names ?? 'nfc');
    if (seen.has(packed.name)) throw duplicateNameError(packed.name, index);
    seen.add(packed.name);
    entries.push(packed);
    index++;
  }
  return joinEntries(entries);
}

/** The packed table: entries sorted by name in code-point order, concatenated. */
export function joinEntries(entries: PackedEntry[]): Uint8Array {
  // Code-point order = UTF-8 byte order (JavaScript's UTF-16 sort would misplace astral names).
  entries.sort((a, b) => compareBytes(a.nameBytes, b.nameBytes));
  return concatBytes(...entries.map((e) => e.entry));
}

/** Unpacks with the directory's writekey: write caps decrypted, their MACs checked. */
export function unpackChildren(
  writeKey: Uint8Array,
  packed: Uint8Array,
  options: NameOptions = {},
): DirChild[] {
  checkWriteKey(writeKey);
  return unpack(packed, writeKey, options.names ?? 'nfc');
}

/**
 * Unpacks without the writekey (a read-cap holder): only read-only caps are exposed; a
 * child linked read-write appears read-only.
 */
export function unpackChildrenReadOnly(packed: Uint8Array, options: NameOptions = {}): DirChild[] {
  return unpack(packed, undefined, options.names ?? 'nfc');
}

function text(bytes: Uint8Array, what: string, child: number): string {
  try {
    return fromUtf8(bytes);
  } catch (cause) {
    throw new DirnodeFormatError(
      'ERR_DIRNODE_UTF8',
      `entry ${child}: the ${what} is not valid UTF-8`,
      child,
      { cause },
    );
  }
}

function split(data: Uint8Array, what: string, child?: number): Uint8Array[] {
  try {
    return splitNetstrings(data);
  } catch (cause) {
    if (!(cause instanceof NetstringError)) throw cause;
    throw new DirnodeFormatError('ERR_DIRNODE_NETSTRING', `${what}: ${cause.message}`, child, {
      cause,
    });
  }
}

const stripTrailingSpaces = (s: string) => s.replace(/ +$/, '');

function unpack(packed: Uint8Array, writeKey: Uint8Array | undefined, form: NameForm): DirChild[] {
  const children: DirChild[] = [];
  const seen = new Set<string>();
  splitEntries(packed).forEach((entry, i) => {
    const child = unpackEntry(entry, i, writeKey, form);
    if (seen.has(child.name)) throw duplicateNameError(child.name, i);
    seen.add(child.name);
    children.push(child);
  });
  return children;
}

/** The entries of a packed table, each still packed (a typed error if the framing is bad). */
export function splitEntries(packed: Uint8Array): Uint8Array[] {
  return split(packed, 'directory contents');
}

/** The four fields of entry `i`: name, ro cap, rwcapdata, metadata. */
function entryFields(entry: Uint8Array, i: number): Uint8Array[] {
  const fields = split(entry, `entry ${i}`, i);
  if (fields.length !== 4) {
    throw new DirnodeFormatError(
      'ERR_DIRNODE_ENTRY_FIELDS',
      `entry ${i} has ${fields.length} fields; expected 4 (name, ro cap, rwcapdata, metadata)`,
      i,
    );
  }
  return fields;
}

/** The name of packed entry `i`, as unpackEntry() would give it. */
export function entryName(entry: Uint8Array, i: number, form: NameForm = 'nfc'): string {
  const raw = text(entryFields(entry, i)[0], 'name', i);
  return form === 'nfc' ? raw.normalize('NFC') : raw;
}

/**
 * Unpacks entry `i` of a table: with the writekey its write cap is decrypted and its MAC
 * checked; without, only the read-only cap is exposed.
 */
export function unpackEntry(
  entry: Uint8Array,
  i: number,
  writeKey: Uint8Array | undefined,
  form: NameForm = 'nfc',
): DirChild {
  const [nameBytes, roBytes, rwcapdata, metadataBytes] = entryFields(entry, i);
  const raw = text(nameBytes, 'name', i);
  const name = form === 'nfc' ? raw.normalize('NFC') : raw;
  let metadata: unknown;
  try {
    metadata = JSON.parse(text(metadataBytes, 'metadata', i));
  } catch (cause) {
    if (cause instanceof DirnodeFormatError) throw cause;
    throw new DirnodeFormatError(
      'ERR_DIRNODE_METADATA',
      `entry ${i} (${JSON.stringify(name)}): the metadata is not valid JSON`,
      i,
      { cause },
    );
  }
  if (!isPlainObject(metadata)) {
    throw new DirnodeFormatError(
      'ERR_DIRNODE_METADATA',
      `entry ${i} (${JSON.stringify(name)}): the metadata is JSON but not an object`,
      i,
    );
  }
  // Trailing spaces may pad caps (Tahoe ≥ 1.6 strips them); empty means absent.
  const child: DirChild = {
    name,
    roCap: stripTrailingSpaces(text(roBytes, 'ro cap', i)),
    metadata: metadata as JsonObject,
  };
  if (writeKey) {
    const rwCap = stripTrailingSpaces(text(decryptRwCap(writeKey, rwcapdata, i), 'write cap', i));
    if (rwCap) child.rwCap = rwCap;
  }
  return child;
}
