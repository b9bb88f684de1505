// Where the shares of a new version go (tahoe-formats.md §11.4 step 2, plus slotfs's
// rebalancing and N+1th share):
//  - every share already on a usable server is overwritten in place, so old versions do
//    not linger;
//  - each share number not yet placed goes to the least-loaded server, earliest in the
//    permuted list first (with fewer servers than shares, shares double up);
//  - when a server holds two or more shares while others hold none (the grid grew), its
//    surplus shares move to the empty servers, and surplus duplicate copies are dropped:
//    each server ends with at most one share where the grid allows it;
//  - the home server keeps one extra copy of a share number held elsewhere (the N+1th
//    share), so the encrypted private key stays on a server the client chose.
// Moved and dropped copies are listed as `surplus`: the publisher deletes them only after
// the new version is placed. Pure; servers are opaque values.

export interface PlacementInput<S> {
  /** Servers in permuted order. */
  permuted: readonly S[];
  N: number;
  /** Share numbers already held by each server (any version, including bad shares). */
  existing: ReadonlyMap<S, readonly number[]>;
  /** Servers not to use (they failed during this operation). */
  exclude?: ReadonlySet<S>;
  /**
   * The client's home server, which gets the extra copy. If it is missing or excluded,
   * the first usable server is the home; `null` means no extra copy.
   */
  home?: S | null;
}

export interface SurplusCopy<S> {
  server: S;
  shareNumber: number;
  /** Where the share moved (undefined for a dropped duplicate). */
  movedTo?: S;
}

export interface PlacementPlan<S> {
  /** Server → the share numbers to write there, ascending; servers in permuted order. */
  writes: Map<S, number[]>;
  /** The home server and the share number of its extra copy, if any. */
  home?: S;
  extra?: number;
  /** Copies that are not rewritten and should be deleted once the new version is placed. */
  surplus: SurplusCopy<S>[];
}

export function planPlacement<S>(input: PlacementInput<S>): PlacementPlan<S> {
  const { permuted, N } = input;
  const exclude = input.exclude ?? new Set<S>();
  const usable = permuted.filter((s) => !exclude.has(s));
  const position = new Map(usable.map((s, i) => [s, i]));
  const plan = new Map<S, Set<number>>();
  for (const s of usable) {
    plan.set(s, new Set((input.existing.get(s) ?? []).filter((n) => n >= 0 && n < N)));
  }
  const surplus: SurplusCopy<S>[] = [];
  if (usable.length === 0) return { writes: new Map(), surplus };

  const home =
    input.home === null
      ? undefined
      : input.home !== undefined && plan.has(input.home)
        ? input.home
        : usable[0];
  const holders = (n: number) => usable.filter((s) => plan.get(s)!.has(n));

  // The home's extra copy, if it already has one: a share number it shares with another
  // server. Set aside so that balancing does not count it.
  let extra: number | undefined;
  if (home !== undefined && plan.get(home)!.size >= 2) {
    extra = [...plan.get(home)!].sort((a, b) => a - b).find((n) => holders(n).length >= 2);
    if (extra !== undefined) plan.get(home)!.delete(extra);
  }

  // Surplus duplicates: a second copy on a server that holds another share too.
  for (const s of [...usable].reverse()) {
    const held = plan.get(s)!;
    for (const n of [...held].sort((a, b) => b - a)) {
      if (held.size < 2) break;
      if (holders(n).length >= 2) {
        held.delete(n);
        surplus.push({ server: s, shareNumber: n });
      }
    }
  }

  // Homeless share numbers to the least-loaded server, earliest first.
  const placed = new Set([...plan.values()].flatMap((h) => [...h]));
  for (let n = 0; n < N; n++) {
    if (placed.has(n)) continue;
    let best = usable[0];
    for (const s of usable) {
      const load = plan.get(s)!.size;
      const bestLoad = plan.get(best)!.size;
      if (load < bestLoad || (load === bestLoad && position.get(s)! < position.get(best)!)) {
        best = s;
      }
    }
    plan.get(best)!.add(n);
    placed.add(n);
  }

  // Rebalancing: move surplus shares to servers holding none.
  for (;;) {
    const empty = usable.find((s) => plan.get(s)!.size === 0);
    if (empty === undefined) break;
    let donor: S | undefined;
    for (const s of usable) {
      if (donor === undefined || plan.get(s)!.size > plan.get(donor)!.size) donor = s;
    }
    if (donor === undefined || plan.get(donor)!.size < 2) break;
    const n = Math.max(...plan.get(donor)!);
    plan.get(donor)!.delete(n);
    plan.get(empty)!.add(n);
    surplus.push({ server: donor, shareNumber: n, movedTo: empty });
  }

  // The extra copy: the one set aside, or the lowest share number the home lacks.
  if (home !== undefined) {
    const held = plan.get(home)!;
    if (extra === undefined) {
      for (let n = 0; n < N; n++) {
        if (!held.has(n)) {
          extra = n;
          break;
        }
      }
    }
    if (extra !== undefined) {
      held.add(extra);
      // A copy set aside for dropping or moving stays where it is after all.
      const i = surplus.findIndex((c) => c.server === home && c.shareNumber === extra);
      if (i >= 0) surplus.splice(i, 1);
    }
  }

  const writes = new Map<S, number[]>();
  for (const s of usable) {
    const held = plan.get(s)!;
    if (held.size > 0)
      writes.set(
        s,
        [...held].sort((a, b) => a - b),
      );
  }
  return { writes, home, extra, surplus };
}

/**
 * Servers-of-happiness: the largest number of servers that can each be matched to a
 * different share number they hold (a maximum bipartite matching). A version with
 * happiness h survives the loss of any servers as long as k of those h remain.
 */
export function happiness<S>(placed: ReadonlyMap<S, readonly number[]>): number {
  const owner = new Map<number, S>();
  const tryAssign = (server: S, seen: Set<number>): boolean => {
    for (const n of placed.get(server) ?? []) {
      if (seen.has(n)) continue;
      seen.add(n);
      const current = owner.get(n);
      if (current === undefined || tryAssign(current, seen)) {
        owner.set(n, server);
        return true;
      }
    }
    return false;
  };
  let matched = 0;
  for (const server of placed.keys()) if (tryAssign(server, new Set())) matched++;
  return matched;
}
