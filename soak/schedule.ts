// The soak's fault schedule: from a seed, what happens when in one round. Server faults
// (kill, stall, partition) last a few seconds each and never take more than `maxDown`
// servers away at once, so writes can still reach shares-of-happiness servers; client
// faults kill -9 a mount (remounted at once, replaying its journal) or a running put.
// Pure: the same seed gives the same plan; the soak carries it out against a real grid.

/** mulberry32: a small seeded PRNG, enough to make schedules and contents replayable. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export type ServerFault = 'kill' | 'stall' | 'partition';
export type ClientFault = 'kill-mount' | 'kill-put';

export type FaultEvent =
  | { atMs: number; kind: ServerFault; server: number; forMs: number }
  | { atMs: number; kind: ClientFault; writer: number };

export interface RoundPlanInput {
  servers: number;
  mounts: number;
  puts: number;
  /** Faults start within the first `activeMs` of the round; all are over by its end. */
  activeMs: number;
  /** Most servers down at once (N − happiness keeps writes possible). */
  maxDown: number;
  /** Kinds of server fault the grid can play. */
  serverFaults: readonly ServerFault[];
}

export function planRound(random: () => number, input: RoundPlanInput): FaultEvent[] {
  const events: FaultEvent[] = [];
  const between = (lo: number, hi: number) => lo + Math.floor(random() * (hi - lo + 1));
  // Server faults: intervals that never overlap more than maxDown at a time.
  const busy: Array<{ server: number; from: number; to: number }> = [];
  const downAt = (t: number) => busy.filter((b) => b.from <= t && t < b.to);
  for (let t = between(200, 1500); t < input.activeMs; t += between(700, 3000)) {
    const forMs = Math.min(between(1000, 8000), input.activeMs - t + 1000);
    const to = t + forMs;
    // Every instant of the new interval must leave room: check where others start too.
    const points = [t, ...busy.filter((b) => b.from > t && b.from < to).map((b) => b.from)];
    if (points.some((p) => downAt(p).length >= input.maxDown)) continue;
    const free = [...Array(input.servers).keys()].filter(
      (s) => !busy.some((b) => b.server === s && b.from < to && t < b.to),
    );
    if (free.length === 0 || input.serverFaults.length === 0) continue;
    const server = free[Math.floor(random() * free.length)];
    const kind = input.serverFaults[Math.floor(random() * input.serverFaults.length)];
    busy.push({ server, from: t, to });
    events.push({ atMs: t, kind, server, forMs });
  }
  // Client faults: a few per round, at random moments.
  const writers = input.mounts + input.puts;
  if (writers > 0) {
    for (let t = between(1000, 4000); t < input.activeMs; t += between(3000, 9000)) {
      const writer = Math.floor(random() * writers);
      events.push({ atMs: t, kind: writer < input.mounts ? 'kill-mount' : 'kill-put', writer });
    }
  }
  return events.sort((a, b) => a.atMs - b.atMs);
}
