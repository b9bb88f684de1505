// The storage server: Tahoe-compatible mutable-slot containers on disk behind Tahoe's HTTP
// storage protocol. Clients import only ./protocol.js (the wire), never the rest.
export * from './protocol.js';
export { startServer, type ServerOptions, type RunningServer } from './server.js';
