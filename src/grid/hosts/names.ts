// Names and addresses of one hosts grid (pure). Every namespace of a run starts with
// `sfh-<pid of the process that made it>-<random>-`, so a later run can tell which
// namespaces a dead run left behind and sweep them, without touching anyone else's.

export const NAME_PREFIX = 'sfh-';
const NAME_RE = /^sfh-(\d+)-([0-9a-f]+)-/;

/** The prefix of one run's namespaces. */
export function runPrefix(pid: number, random: string): string {
  return `${NAME_PREFIX}${pid}-${random}-`;
}

/** The pid that made a namespace of ours, or undefined for a name that is not ours. */
export function ownerPid(namespace: string): number | undefined {
  const m = NAME_RE.exec(namespace);
  return m ? Number(m[1]) : undefined;
}

export interface AddressPlan {
  /** The /24 network, e.g. "10.77.0". */
  network: string;
  server(index: number): string;
  client: string;
}

export const MAX_SERVERS = 200;

/** Servers at .1…, the client at .250. */
export function addressPlan(network: string): AddressPlan {
  return {
    network,
    server: (index) => {
      if (!Number.isInteger(index) || index < 0 || index >= MAX_SERVERS) {
        throw new RangeError(`server index ${index} is outside 0..${MAX_SERVERS - 1}`);
      }
      return `${network}.${index + 1}`;
    },
    client: `${network}.250`,
  };
}

/**
 * A 10.x.y.0/24 network not among `inUse` (the root namespace's addresses and routes, as
 * text), starting from a random point. Only a client in the root namespace needs one that
 * is free there; namespaces of their own may all use the same network.
 */
export function freeNetwork(inUse: string, start: number): string {
  for (let i = 0; i < 100 * 256; i++) {
    const n = (start + i) % (100 * 256);
    const network = `10.${100 + Math.floor(n / 256)}.${n % 256}`;
    if (!inUse.includes(`${network}.`)) return network;
  }
  throw new Error('no free 10.x.y.0/24 network in the root namespace');
}
