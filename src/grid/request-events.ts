// Observability of storage requests. Every request a StorageClient makes is published on
// the `slotfs:request` diagnostics channel (once when it starts, once when it ends), so
// logs, `slotfs status`, metrics and per-operation cost accounting all subscribe to one
// source instead of being threaded through every call.
import { AsyncLocalStorage } from 'node:async_hooks';
import diagnosticsChannel from 'node:diagnostics_channel';
import { performance } from 'node:perf_hooks';

export const REQUEST_CHANNEL_NAME = 'slotfs:request';
export const requestChannel = diagnosticsChannel.channel(REQUEST_CHANNEL_NAME);

interface RequestEventBase {
  /** Unique per process; pairs a start with its end. */
  readonly id: number;
  readonly serverId: Uint8Array;
  readonly serverName: string;
  readonly method: string;
  /** Logical endpoint: 'version', 'read-test-write', 'read-share', 'list-shares', 'lease', 'corrupt'. */
  readonly endpoint: string;
  readonly path: string;
  /** Request body bytes. */
  readonly bytesSent: number;
  /** Operations the request carries when it is a batch (read-test-write-many); else absent. */
  readonly items?: number;
}

export interface RequestStartEvent extends RequestEventBase {
  readonly phase: 'start';
}

export interface RequestEndEvent extends RequestEventBase {
  readonly phase: 'end';
  /** Response body bytes received (0 when the request failed before a body arrived). */
  readonly bytesReceived: number;
  /** HTTP status, or null when no response arrived. */
  readonly status: number | null;
  /** The StorageClientError code when the request failed, else null. */
  readonly errorCode: string | null;
  readonly durationMs: number;
}

export type RequestEvent = RequestStartEvent | RequestEndEvent;

let nextId = 1;

/** Id for a new request event (used by StorageClient implementations). */
export function newRequestId(): number {
  return nextId++;
}

/** Publishes an event if anybody listens (cheap no-op otherwise). */
export function publishRequestEvent(event: RequestEvent): void {
  if (requestChannel.hasSubscribers) requestChannel.publish(event);
}

/** What a StorageClient says of a request when it starts... */
export type RequestStart = Omit<RequestEventBase, 'id'>;
/** ... and when it ends. */
export type RequestOutcome = Pick<RequestEndEvent, 'bytesReceived' | 'status' | 'errorCode'>;

/**
 * Publishes the start of one request and returns what publishes its end (call it once,
 * also when the request failed): both events get one id, and the end its duration.
 */
export function startRequest(request: RequestStart): (outcome: RequestOutcome) => void {
  const base = { id: newRequestId(), ...request };
  publishRequestEvent({ ...base, phase: 'start' });
  const started = performance.now();
  return (outcome) =>
    publishRequestEvent({
      ...base,
      phase: 'end',
      ...outcome,
      durationMs: performance.now() - started,
    });
}

/** Totals over a set of requests. */
export interface RequestTotals {
  requests: number;
  failures: number;
  bytesSent: number;
  bytesReceived: number;
}

/** What one operation cost on the wire. */
export interface OperationCostReport extends RequestTotals {
  /**
   * Sequential waves: the longest chain of requests in which each one started only after
   * the previous one had ended. Parallel requests to many servers count once.
   */
  roundTrips: number;
  /** Wall-clock time of the measured function. */
  ms: number;
  /** Per server name. */
  byServer: Map<string, RequestTotals>;
}

const emptyTotals = (): RequestTotals => ({
  requests: 0,
  failures: 0,
  bytesSent: 0,
  bytesReceived: 0,
});

/**
 * Counts every request in the process while started (all servers, all operations);
 * for a global view such as `slotfs status` or a benchmark's totals.
 */
export class RequestCounter {
  readonly totals: RequestTotals = emptyTotals();
  private readonly listener = (message: unknown) => {
    const event = message as RequestEvent;
    if (event.phase !== 'end') return;
    addEnd(this.totals, event);
  };
  private subscribed = false;

  start(): this {
    if (!this.subscribed) diagnosticsChannel.subscribe(REQUEST_CHANNEL_NAME, this.listener);
    this.subscribed = true;
    return this;
  }

  stop(): RequestTotals {
    if (this.subscribed) diagnosticsChannel.unsubscribe(REQUEST_CHANNEL_NAME, this.listener);
    this.subscribed = false;
    return { ...this.totals };
  }
}

function addEnd(totals: RequestTotals, event: RequestEndEvent): void {
  totals.requests += 1;
  if (event.errorCode !== null) totals.failures += 1;
  totals.bytesSent += event.bytesSent;
  totals.bytesReceived += event.bytesReceived;
}

/** Accumulates the requests made inside one `measureOperation` call. */
class CostTracker {
  readonly totals = emptyTotals();
  readonly byServer = new Map<string, RequestTotals>();
  /** depth of each in-flight request of this operation */
  private readonly inFlight = new Map<number, number>();
  private maxEndedDepth = 0;
  roundTrips = 0;
  finished = false;

  onStart(event: RequestStartEvent): void {
    // A request is one wave deeper than the deepest request that had already ended when
    // it started; requests in flight at the same time share a wave.
    const depth = this.maxEndedDepth + 1;
    this.inFlight.set(event.id, depth);
    if (depth > this.roundTrips) this.roundTrips = depth;
  }

  onEnd(event: RequestEndEvent): void {
    const depth = this.inFlight.get(event.id);
    if (depth === undefined) return;
    this.inFlight.delete(event.id);
    if (depth > this.maxEndedDepth) this.maxEndedDepth = depth;
    addEnd(this.totals, event);
    let server = this.byServer.get(event.serverName);
    if (!server) this.byServer.set(event.serverName, (server = emptyTotals()));
    addEnd(server, event);
  }
}

const activeTrackers = new AsyncLocalStorage<CostTracker[]>();
const liveTrackers = new Set<CostTracker>();

// Subscribers run synchronously in the publisher's async context, so the tracker that
// owns a start event is whatever `measureOperation` context the request was made in.
function costListener(message: unknown): void {
  const event = message as RequestEvent;
  if (event.phase === 'start') {
    for (const tracker of activeTrackers.getStore() ?? []) {
      if (!tracker.finished) tracker.onStart(event);
    }
  } else {
    for (const tracker of liveTrackers) tracker.onEnd(event);
  }
}

/** The operations being measured where it is taken (opaque; see inOperationsOf). */
export type OperationContext = readonly CostTracker[] | undefined;

export function currentOperationContext(): OperationContext {
  return activeTrackers.getStore();
}

/**
 * Runs `fn` as if inside every operation of `contexts`: a request that carries the work of
 * several queued calls (a batch) then counts once in the cost of each of them.
 */
export function inOperationsOf<T>(contexts: readonly OperationContext[], fn: () => T): T {
  const union = [...new Set(contexts.flatMap((c) => c ?? []))];
  return activeTrackers.run(union, fn);
}

/**
 * The wire cost of one operation: `run(fn)` counts the requests `fn` makes (including
 * those of nested measurements, which count in both); concurrent operations are kept
 * apart by async context. `report()` works after success and after failure alike.
 */
export class OperationCost {
  private readonly tracker = new CostTracker();
  private started = 0;
  private ended: number | null = null;

  async run<T>(fn: () => Promise<T>): Promise<T> {
    const tracker = this.tracker;
    if (liveTrackers.size === 0) diagnosticsChannel.subscribe(REQUEST_CHANNEL_NAME, costListener);
    liveTrackers.add(tracker);
    this.started = performance.now();
    const parents = activeTrackers.getStore() ?? [];
    try {
      return await activeTrackers.run([...parents, tracker], fn);
    } finally {
      this.ended = performance.now();
      tracker.finished = true;
      liveTrackers.delete(tracker);
      if (liveTrackers.size === 0) {
        diagnosticsChannel.unsubscribe(REQUEST_CHANNEL_NAME, costListener);
      }
    }
  }

  report(): OperationCostReport {
    const t = this.tracker;
    return {
      ...t.totals,
      roundTrips: t.roundTrips,
      ms: (this.ended ?? performance.now()) - this.started,
      byServer: new Map(t.byServer),
    };
  }
}

/** Runs `fn` and returns its result with its cost (see OperationCost). */
export async function measureOperation<T>(
  fn: () => Promise<T>,
): Promise<{ result: T; cost: OperationCostReport }> {
  const cost = new OperationCost();
  const result = await cost.run(fn);
  return { result, cost: cost.report() };
}
