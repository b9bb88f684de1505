// A directory's child table that keeps every child's packed entry, so that a change
// re-encrypts and re-serialises only the children it touched: adding one file to a folder
// of 1,000 costs one entry, not 1,000 (each entry costs an AES key derivation, an
// encryption and a MAC). Entries read from the grid are kept exactly as they were (a
// Tahoe writer's encrypted write cap stays as Tahoe wrote it). Pure: no I/O.
import { compareBytes, equalBytes, utf8 } from '../encoding/bytes.js';
import {
  entryName,
  packEntry,
  splitEntries,
  unpackEntry,
  duplicateNameError,
  type DirChild,
  type NameForm,
  type NameOptions,
} from './format.js';

interface Row {
  child: DirChild;
  /** UTF-8 of the name, for code-point ordering; computed when first needed. */
  nameBytes?: Uint8Array;
  /** The packed entry; undefined while the child has changed since the last pack(). */
  entry?: Uint8Array;
}

export class ChildTable {
  /** Entries packed by the last pack() (the rest were kept): for tests and statistics. */
  lastPacked = 0;
  /** Names in the order of the packed bytes; undefined after a name was added or removed. */
  private order?: string[];
  /** Whether `order` is by code point (a foreign writer may have packed in another order). */
  private sorted = true;

  private constructor(
    /** The directory's writekey; undefined for a table read through a read cap. */
    readonly writeKey: Uint8Array | undefined,
    readonly names: NameForm,
    private readonly rows: Map<string, Row>,
  ) {}

  /** An empty table (a new directory). */
  static empty(writeKey: Uint8Array | undefined, options: NameOptions = {}): ChildTable {
    const table = new ChildTable(writeKey, options.names ?? 'nfc', new Map());
    table.order = [];
    return table;
  }

  /**
   * Unpacks a packed table (write caps decrypted when `writeKey` is given). Entries that
   * `previous` holds byte for byte under the same name are taken from it without being
   * decrypted or parsed again, so re-reading a directory after a small change is cheap.
   */
  static unpack(
    writeKey: Uint8Array | undefined,
    packed: Uint8Array,
    options: NameOptions = {},
    previous?: ChildTable,
  ): ChildTable {
    const names = options.names ?? 'nfc';
    const reuse = previous && sameKind(previous, writeKey, names) ? previous.rows : undefined;
    const rows = new Map<string, Row>();
    const order: string[] = [];
    let sorted = true;
    let last: Uint8Array | undefined;
    splitEntries(packed).forEach((entry, i) => {
      const name = entryName(entry, i, names);
      if (rows.has(name)) throw duplicateNameError(name, i);
      const framed = framedEntry(entry);
      const old = reuse?.get(name);
      let row: Row;
      if (old?.entry && sameBytes(old.entry, framed)) {
        row = old;
      } else {
        // A copy: a kept entry should not hold on to the whole plaintext it came from.
        row = { child: unpackEntry(entry, i, writeKey, names), entry: framed.slice() };
      }
      row.nameBytes ??= utf8(name);
      if (last && compareBytes(last, row.nameBytes) > 0) sorted = false;
      last = row.nameBytes;
      rows.set(name, row);
      order.push(name);
    });
    const table = new ChildTable(writeKey, names, rows);
    table.order = order;
    table.sorted = sorted;
    return table;
  }

  get size(): number {
    return this.rows.size;
  }

  has(name: string): boolean {
    return this.rows.has(name);
  }

  get(name: string): DirChild | undefined {
    return this.rows.get(name)?.child;
  }

  /**
   * Adds or replaces the child of that name (NFC-normalised unless names are kept
   * exact). The child must not be changed afterwards: the table keeps it as given.
   */
  set(child: DirChild): this {
    const name = this.key(child.name);
    if (!this.rows.has(name)) this.order = undefined;
    this.rows.set(name, { child: name === child.name ? child : { ...child, name } });
    return this;
  }

  delete(name: string): boolean {
    const had = this.rows.delete(this.key(name));
    if (had) this.order = undefined;
    return had;
  }

  /** The children in the order of the packed bytes (by code point once packed here). */
  children(): DirChild[] {
    return (this.order ?? this.sortedNames()).map((n) => this.rows.get(n)!.child);
  }

  /** A copy to change: the rows are shared (they are never changed in place). */
  clone(): ChildTable {
    const copy = new ChildTable(this.writeKey, this.names, new Map(this.rows));
    copy.order = this.order;
    copy.sorted = this.sorted;
    return copy;
  }

  /**
   * The packed table, equal (once unpacked) to packChildren() of the same children:
   * entries kept from the grid or from an earlier pack are reused, the others packed.
   */
  pack(): Uint8Array {
    if (!this.writeKey) {
      throw new TypeError('a directory read through its read cap cannot be packed');
    }
    let index = 0;
    let packed = 0;
    for (const [name, row] of this.rows) {
      if (!row.entry) {
        const p = packEntry(this.writeKey, row.child, index, this.names);
        this.rows.set(name, { child: p.child, nameBytes: p.nameBytes, entry: p.entry });
        packed++;
      }
      index++;
    }
    this.lastPacked = packed;
    const names = this.sortedNames();
    let length = 0;
    for (const n of names) length += this.rows.get(n)!.entry!.length;
    const out = new Uint8Array(length);
    let offset = 0;
    for (const n of names) {
      const entry = this.rows.get(n)!.entry!;
      out.set(entry, offset);
      offset += entry.length;
    }
    return out;
  }

  private key(name: string): string {
    return this.names === 'nfc' ? name.normalize('NFC') : name;
  }

  /** Names in packed order; sorted by UTF-8 bytes (= code points) when names changed. */
  private sortedNames(): string[] {
    if (this.order && this.sorted) return this.order;
    const rows = [...this.rows].map(([name, row]) => {
      row.nameBytes ??= utf8(name);
      return { name, bytes: row.nameBytes };
    });
    rows.sort((a, b) => compareBytes(a.bytes, b.bytes));
    this.order = rows.map((r) => r.name);
    this.sorted = true;
    return this.order;
  }
}

function sameKind(table: ChildTable, writeKey: Uint8Array | undefined, names: NameForm): boolean {
  if (table.names !== names) return false;
  if (!table.writeKey || !writeKey) return !table.writeKey && !writeKey;
  return equalBytes(table.writeKey, writeKey);
}

/**
 * The entry with its netstring framing, as a view of the same bytes: splitNetstrings()
 * gives the body, and refuses leading zeros, so the length prefix is the decimal length.
 */
function framedEntry(body: Uint8Array): Uint8Array {
  const prefix = String(body.length).length + 1; // "<length>:"
  return new Uint8Array(body.buffer, body.byteOffset - prefix, prefix + body.length + 1);
}

/** Byte equality of public bytes (not constant-time; nothing secret is compared). */
function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && Buffer.compare(a, b) === 0;
}
