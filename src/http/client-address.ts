// The client's address for rate limiting: the socket's peer, or the first X-Forwarded-For hop
// when SILO_TRUST_PROXY says a proxy in front sets it (a client could forge it otherwise).
import { getConnInfo } from '@hono/node-server/conninfo';
import type { Context } from 'hono';

export function clientAddress(c: Context, trustProxy: boolean): string {
  if (trustProxy) {
    const forwarded = c.req.header('x-forwarded-for')?.split(',')[0]?.trim();
    if (forwarded) return forwarded;
  }
  try {
    return getConnInfo(c).remote.address ?? 'unknown';
  } catch {
    // Not served by @hono/node-server (app.request in tests): no socket to ask.
    return 'unknown';
  }
}
