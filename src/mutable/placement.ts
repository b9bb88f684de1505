// Where the shares of a new version go (tahoe-formats.md §11.4 step 2): every share
// already on the grid is overwritten in place (so old versions do not linger), and each
// share number not yet placed goes to the least-loaded server, earliest in the permuted
// list first. With fewer servers than shares, shares double up.

/** Server → the share numbers to write there. */
export type Placement<S> = Map<S, number[]>;

export interface PlacementInput<S> {
  /** Servers in permuted order. */
  permuted: readonly S[];
  N: number;
  /** Share numbers already held by each server (any version, including bad shares). */
  existing: ReadonlyMap<S, readonly number[]>;
  /** Servers not to use (they failed during this operation). */
  exclude?: ReadonlySet<S>;
}

export function planPlacement<S>(input: PlacementInput<S>): Placement<S> {
  const { permuted, N } = input;
  const exclude = input.exclude ?? new Set<S>();
  const usable = permuted.filter((s) => !exclude.has(s));
  const plan: Placement<S> = new Map();
  const placed = new Set<number>();
  for (const server of usable) {
    const held = (input.existing.get(server) ?? []).filter((n) => n < N);
    if (held.length === 0) continue;
    plan.set(
      server,
      [...new Set(held)].sort((a, b) => a - b),
    );
    for (const n of held) placed.add(n);
  }
  if (usable.length === 0) return plan;
  const position = new Map(usable.map((s, i) => [s, i]));
  for (let shnum = 0; shnum < N; shnum++) {
    if (placed.has(shnum)) continue;
    let best = usable[0];
    let bestLoad = Infinity;
    for (const server of usable) {
      const load = plan.get(server)?.length ?? 0;
      if (load < bestLoad || (load === bestLoad && position.get(server)! < position.get(best)!)) {
        best = server;
        bestLoad = load;
      }
    }
    const list = plan.get(best) ?? [];
    list.push(shnum);
    plan.set(best, list);
    placed.add(shnum);
  }
  return plan;
}
