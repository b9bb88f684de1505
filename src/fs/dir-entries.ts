// The children of the directories the mount has loaded, and what they add up to across
// them: how many names each file has (a hard link is one cap linked under two names, so
// st_nlink counts the names sharing it) and how many subdirectories each directory has
// (its st_nlink is 2 + that). Kept up to date on every set/delete, so stat costs nothing;
// names in directories the mount has not loaded are not counted.

export interface IndexedChild {
  isDirectory: boolean;
}

/** Where a name is: the directory's cap and the name in it. */
export interface Place {
  dirCap: string;
  name: string;
}

export class LinkIndex<C extends IndexedChild> {
  private readonly places = new Map<string, Map<string, Place>>();

  /** `keyOf` names the file a child is (its storage index), or undefined if not counted. */
  constructor(readonly keyOf: (child: C) => string | undefined) {}

  /** The names of file `key` in loaded directories (0 when none is loaded). */
  count(key: string): number {
    return this.places.get(key)?.size ?? 0;
  }

  /** Every loaded name of file `key`. */
  placesOf(key: string): Place[] {
    return [...(this.places.get(key)?.values() ?? [])];
  }

  /** `owner` tells apart two listings of one directory (the old one is released later). */
  add(key: string, owner: number, place: Place): void {
    let at = this.places.get(key);
    if (!at) this.places.set(key, (at = new Map()));
    at.set(`${owner}\0${place.name}`, place);
  }

  remove(key: string, owner: number, name: string): void {
    const at = this.places.get(key);
    if (!at) return;
    at.delete(`${owner}\0${name}`);
    if (at.size === 0) this.places.delete(key);
  }
}

/** One directory's children by name, counted in a LinkIndex. */
let listings = 0;

export class DirEntries<C extends IndexedChild> extends Map<string, C> {
  subdirectories = 0;
  private released = false;
  private readonly owner = ++listings;

  constructor(
    private readonly index: LinkIndex<C>,
    readonly dirCap: string,
  ) {
    super();
  }

  override set(name: string, child: C): this {
    const old = super.get(name);
    if (old) this.forget(name, old);
    super.set(name, child);
    if (!this.released) {
      if (child.isDirectory) this.subdirectories++;
      const key = this.index.keyOf(child);
      if (key !== undefined) this.index.add(key, this.owner, { dirCap: this.dirCap, name });
    }
    return this;
  }

  override delete(name: string): boolean {
    const old = super.get(name);
    if (!old) return false;
    this.forget(name, old);
    return super.delete(name);
  }

  override clear(): void {
    for (const [name, child] of this) this.forget(name, child);
    super.clear();
  }

  /** The listing is replaced or dropped: its names stop counting (it stays readable). */
  release(): void {
    if (this.released) return;
    for (const [name, child] of this) this.forget(name, child);
    this.released = true;
  }

  private forget(name: string, child: C): void {
    if (this.released) return;
    if (child.isDirectory) this.subdirectories--;
    const key = this.index.keyOf(child);
    if (key !== undefined) this.index.remove(key, this.owner, name);
  }
}
