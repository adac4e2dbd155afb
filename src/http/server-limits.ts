// Limits for Node's HTTP server, so that slow or idle clients cannot hold sockets for long: Node's
// defaults wait 60 s for a request's headers and 5 minutes for its body, and accept any number of
// connections. Passed to @hono/node-server's serve() in src/main.ts.
import type { ServerOptions } from 'node:http';

/** For the headers, then for the whole request (a body at SILO_BODY_LIMIT fits easily in 30 s). */
export const serverOptions: ServerOptions = {
  headersTimeout: 10_000,
  requestTimeout: 30_000,
  // Node's default: an idle keep-alive socket is closed after 5 s.
  keepAliveTimeout: 5_000,
};
