// slotfs/mutable: small mutable files on a grid — create, retrieve, update, modify.
import type { CreateOptions, CreateResult, MutableClient } from './mutable-client.js';

export * from './mutable-client.js';
export * from './errors.js';

/** Creates a mutable file on the grid `grid` talks to; returns its write cap. */
export async function createMutableFile(
  grid: MutableClient,
  bytes: Uint8Array,
  options: CreateOptions = {},
): Promise<string> {
  return (await grid.create(bytes, options)).cap;
}

export type { CreateResult };
