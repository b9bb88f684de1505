// Test helper: a deliberately thin HTTP client for the storage server (undici, certificate
// accepted without pinning), independent of src/grid so server tests stand alone.
import { Agent, request } from 'undici';
import {
  authorizationHeaderValue,
  decodeReadTestWriteManyResponse,
  decodeReadTestWriteResponse,
  decodeShareSet,
  encodeReadTestWriteManyRequest,
  decodeVersion,
  encodeReadTestWriteRequest,
  EXTENSIONS_REQUEST_HEADER,
  EXTENSIONS_REQUEST_VALUE,
  PATHS,
  secretHeaderValue,
  type Nurl,
  type ReadTestWriteRequest,
  type ReadTestWriteResponse,
  type VersionInfo,
} from '../protocol.js';
import type { SlotSecrets } from '../slot.js';
import { fromBase32 } from '../../encoding/base32.js';

export interface RawResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Uint8Array;
  text: string;
}

export function secretsFor(seed: number): SlotSecrets {
  return {
    writeEnabler: new Uint8Array(32).fill(seed),
    leaseRenewSecret: new Uint8Array(32).fill(seed + 1),
    leaseCancelSecret: new Uint8Array(32).fill(seed + 2),
  };
}

export function secretHeaders(s: SlotSecrets): string[] {
  return [
    secretHeaderValue('write-enabler', s.writeEnabler),
    secretHeaderValue('lease-renew-secret', s.leaseRenewSecret),
    secretHeaderValue('lease-cancel-secret', s.leaseCancelSecret),
  ];
}

export class RawClient {
  readonly origin: string;
  readonly dispatcher: Agent;
  readonly auth: string;

  constructor(nurl: Nurl, connections = 64) {
    this.origin = `https://${nurl.host.includes(':') ? `[${nurl.host}]` : nurl.host}:${nurl.port}`;
    this.auth = authorizationHeaderValue(nurl.swissnum);
    this.dispatcher = new Agent({ connect: { rejectUnauthorized: false }, connections });
  }

  async raw(
    method: string,
    path: string,
    options: { headers?: Record<string, string | string[]>; body?: Uint8Array | string } = {},
  ): Promise<RawResponse> {
    const res = await request(this.origin + path, {
      dispatcher: this.dispatcher,
      method: method as 'GET',
      headers: { authorization: this.auth, ...options.headers },
      body:
        typeof options.body === 'string' ? options.body : options.body && Buffer.from(options.body),
    });
    const body = new Uint8Array(await res.body.arrayBuffer());
    return {
      status: res.statusCode,
      headers: res.headers,
      body,
      text: Buffer.from(body).toString('utf8'),
    };
  }

  async version(extensions = false): Promise<VersionInfo> {
    const res = await this.raw('GET', PATHS.version, {
      headers: extensions ? { [EXTENSIONS_REQUEST_HEADER]: EXTENSIONS_REQUEST_VALUE } : {},
    });
    if (res.status !== 200) throw new Error(`version: ${res.status} ${res.text}`);
    return decodeVersion(res.body);
  }

  rtwRaw(si: string, req: ReadTestWriteRequest, secrets: SlotSecrets) {
    return this.raw('POST', PATHS.readTestWrite(si), {
      headers: {
        'content-type': 'application/cbor',
        'x-tahoe-authorization': secretHeaders(secrets),
      },
      body: encodeReadTestWriteRequest(req),
    });
  }

  async rtw(
    si: string,
    req: ReadTestWriteRequest,
    secrets: SlotSecrets,
  ): Promise<ReadTestWriteResponse> {
    const res = await this.rtwRaw(si, req, secrets);
    if (res.status !== 200) throw new Error(`read-test-write: ${res.status} ${res.text}`);
    return decodeReadTestWriteResponse(res.body);
  }

  rtwManyRaw(
    items: ReadonlyArray<{ si: string; req: ReadTestWriteRequest; secrets: SlotSecrets }>,
  ) {
    return this.raw('POST', PATHS.readTestWriteMany, {
      headers: { 'content-type': 'application/cbor' },
      body: encodeReadTestWriteManyRequest(
        items.map(({ si, req, secrets }) => ({
          storageIndex: fromBase32(si),
          ...secrets,
          body: encodeReadTestWriteRequest(req),
        })),
      ),
    });
  }

  /** Many read-test-writes in one request (slotfs extension): each item's answer. */
  async rtwMany(
    items: ReadonlyArray<{ si: string; req: ReadTestWriteRequest; secrets: SlotSecrets }>,
  ): Promise<Array<ReadTestWriteResponse | { status: number; code: string; message: string }>> {
    const res = await this.rtwManyRaw(items);
    if (res.status !== 200) throw new Error(`read-test-write-many: ${res.status} ${res.text}`);
    return decodeReadTestWriteManyResponse(res.body, items.length).map((r) =>
      r instanceof Uint8Array ? decodeReadTestWriteResponse(r) : r,
    );
  }

  /** Whole share data, or undefined on 404. */
  async share(si: string, shnum: number): Promise<Uint8Array | undefined> {
    const res = await this.raw('GET', PATHS.readShare(si, shnum));
    if (res.status === 404) return undefined;
    if (res.status !== 200) throw new Error(`read share: ${res.status} ${res.text}`);
    return res.body;
  }

  async shares(si: string): Promise<number[]> {
    const res = await this.raw('GET', PATHS.listShares(si));
    if (res.status !== 200) throw new Error(`list shares: ${res.status} ${res.text}`);
    return decodeShareSet(res.body);
  }

  close() {
    return this.dispatcher.close();
  }
}

/** Shorthand for building a request: `write(shnum, [[offset, bytes]], newLength?)`. */
export function tw(
  entries: Array<
    [
      number,
      {
        test?: [number, number, Uint8Array][];
        write?: [number, Uint8Array][];
        newLength?: number | null;
      },
    ]
  >,
  readVector: [number, number][] = [],
): ReadTestWriteRequest {
  return {
    testWriteVectors: new Map(
      entries.map(([shnum, v]) => [
        shnum,
        {
          test: (v.test ?? []).map(([offset, size, specimen]) => ({ offset, size, specimen })),
          write: (v.write ?? []).map(([offset, data]) => ({ offset, data })),
          newLength: v.newLength ?? null,
        },
      ]),
    ),
    readVector: readVector.map(([offset, size]) => ({ offset, size })),
  };
}
