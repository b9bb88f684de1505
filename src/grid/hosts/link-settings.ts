// What a delay proxy does to the bytes crossing it (pure: no I/O). netem is not available
// on the machines this runs on, so a TCP proxy in front of each server plays the link:
// every chunk it forwards is held for a delay, possibly longer (jitter, a lost packet's
// retransmission), or forever (stall). Bytes of one connection never overtake each other,
// as on a real TCP stream.

export interface LinkSettings {
  /** Added one-way delay, each direction (so the round trip grows by twice this). */
  delayMs?: number;
  /** Overrides delayMs for client → server. */
  upMs?: number;
  /** Overrides delayMs for server → client. */
  downMs?: number;
  /** Each chunk's delay varies uniformly by ± this much (never below zero). */
  jitterMs?: number;
  /**
   * Probability (0..1) that a chunk is "lost": TCP would resend it after a retransmission
   * timeout, so it is held that much longer (200 ms or twice the round trip, doubling
   * while it keeps being lost). Nothing is corrupted or reordered, as with TCP.
   */
  drop?: number;
  /** Accept connections and read requests but forward nothing until unset. */
  stall?: boolean;
}

export class LinkSettingsError extends Error {
  readonly code = 'ERR_LINK_SETTINGS';
  constructor(message: string) {
    super(message);
    this.name = 'LinkSettingsError';
  }
}

/** Linux's minimum retransmission timeout. */
const MIN_RTO_MS = 200;
const MAX_DELAY_MS = 600_000;

/** Checks a LinkSettings value (from JSON, a command line, a caller) and returns it normalised. */
export function validateLinkSettings(value: unknown, where = 'link settings'): LinkSettings {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new LinkSettingsError(`${where}: expected an object, got ${JSON.stringify(value)}`);
  }
  const out: LinkSettings = {};
  for (const [key, v] of Object.entries(value)) {
    if (v === undefined) continue;
    switch (key) {
      case 'delayMs':
      case 'upMs':
      case 'downMs':
      case 'jitterMs':
        if (typeof v !== 'number' || !Number.isFinite(v) || v < 0 || v > MAX_DELAY_MS) {
          throw new LinkSettingsError(
            `${where}: ${key} must be a number of milliseconds from 0 to ${MAX_DELAY_MS}, got ${JSON.stringify(v)}`,
          );
        }
        out[key] = v;
        break;
      case 'drop':
        if (typeof v !== 'number' || !(v >= 0 && v < 1)) {
          throw new LinkSettingsError(
            `${where}: drop must be a probability from 0 to below 1, got ${JSON.stringify(v)}`,
          );
        }
        out.drop = v;
        break;
      case 'stall':
        if (typeof v !== 'boolean') {
          throw new LinkSettingsError(
            `${where}: stall must be true or false, got ${JSON.stringify(v)}`,
          );
        }
        out.stall = v;
        break;
      default:
        throw new LinkSettingsError(
          `${where}: unknown setting ${JSON.stringify(key)} (known: delayMs, upMs, downMs, jitterMs, drop, stall)`,
        );
    }
  }
  return out;
}

/**
 * Parses the command-line form `delay=5,jitter=1,drop=0.01,stall` (also `up=`/`down=`);
 * an empty string means a plain link.
 */
export function parseLinkSpec(spec: string): LinkSettings {
  const names: Record<string, keyof LinkSettings> = {
    delay: 'delayMs',
    up: 'upMs',
    down: 'downMs',
    jitter: 'jitterMs',
    drop: 'drop',
    stall: 'stall',
  };
  const raw: Record<string, unknown> = {};
  for (const part of spec.split(',').map((p) => p.trim())) {
    if (part === '') continue;
    const [name, value] = part.split('=', 2);
    const key = names[name];
    if (!key) {
      throw new LinkSettingsError(
        `link "${spec}": unknown setting ${JSON.stringify(name)} (use delay=MS, up=MS, down=MS, jitter=MS, drop=P, stall)`,
      );
    }
    if (key === 'stall') raw.stall = value === undefined || value === 'true' || value === '1';
    else raw[key] = value === undefined || value.trim() === '' ? NaN : Number(value);
  }
  return validateLinkSettings(raw, `link "${spec}"`);
}

export type Direction = 'up' | 'down';

/** The one-way delay of a direction before jitter and loss. */
export function baseDelay(link: LinkSettings, direction: Direction): number {
  const own = direction === 'up' ? link.upMs : link.downMs;
  return own ?? link.delayMs ?? 0;
}

/** The added round trip: both directions' base delays. */
export function addedRoundTripMs(link: LinkSettings): number {
  return baseDelay(link, 'up') + baseDelay(link, 'down');
}

/**
 * How long one chunk is held, given random numbers in [0, 1) from `random`: base delay,
 * jitter, and a retransmission timeout per loss (doubling, as TCP backs off).
 */
export function chunkDelay(link: LinkSettings, direction: Direction, random: () => number): number {
  let delay = baseDelay(link, direction);
  const jitter = link.jitterMs ?? 0;
  if (jitter > 0) delay = Math.max(0, delay + (random() * 2 - 1) * jitter);
  const drop = link.drop ?? 0;
  if (drop > 0) {
    let rto = Math.max(MIN_RTO_MS, 2 * addedRoundTripMs(link));
    // Bounded: a chunk lost over and over still arrives, as TCP keeps retrying.
    for (let i = 0; i < 8 && random() < drop; i++) {
      delay += rto;
      rto *= 2;
    }
  }
  return delay;
}

/**
 * When a chunk arriving at `now` may be released: after its own delay, and never before
 * the chunk ahead of it on the same stream (`previousRelease`), so bytes stay in order.
 */
export function releaseTime(now: number, delay: number, previousRelease: number): number {
  return Math.max(now + delay, previousRelease);
}
