// The client's address for rate limiting. Without a proxy it is the socket's peer. Behind proxies
// (SILO_TRUST_PROXY) it is read from the right of X-Forwarded-For: each proxy appends the address
// it was reached from, so the entries left of what our own proxies wrote are the client's to
// forge; only the configured number of trusted proxies (SILO_TRUST_PROXY_HOPS) is skipped.
import { isIPv4, isIPv6 } from 'node:net';
import { getConnInfo } from '@hono/node-server/conninfo';
import type { Context } from 'hono';

export interface ProxyTrust {
  trustProxy: boolean;
  /** How many proxies in front of Silo append to X-Forwarded-For (the nearest is the socket's peer). */
  trustProxyHops: number;
}

function socketAddress(c: Context): string {
  try {
    return getConnInfo(c).remote.address ?? 'unknown';
  } catch {
    // Not served by @hono/node-server (app.request in tests): no socket to ask.
    return 'unknown';
  }
}

/** The address `hops` proxies away: with one proxy, the last X-Forwarded-For entry. */
export function forwardedAddress(forwardedFor: string | undefined, peer: string, hops: number): string {
  const chain = [...(forwardedFor ?? '').split(',').map((entry) => entry.trim()), peer].filter((entry) => entry !== '');
  // A chain shorter than the proxies we trust did not come through all of them: the nearest hop.
  return chain[Math.max(0, chain.length - 1 - hops)] ?? peer;
}

export function clientAddress(c: Context, proxy: ProxyTrust): string {
  const peer = socketAddress(c);
  return proxy.trustProxy ? forwardedAddress(c.req.header('x-forwarded-for'), peer, proxy.trustProxyHops) : peer;
}

/**
 * What the per-address limit counts by: an IPv4 address, or an IPv6 address's /64 (one customer
 * usually holds a whole /64, so counting single IPv6 addresses would give them 2^64 tries).
 */
export function addressBucket(address: string): string {
  const plain = address.replace(/^\[|\](:\d+)?$/g, '').replace(/%.*$/, '');
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(plain)?.[1];
  if (mapped && isIPv4(mapped)) return mapped;
  if (!isIPv6(plain)) return plain;
  const [head = '', tail] = plain.split('::');
  const left = head === '' ? [] : head.split(':');
  const right = tail === undefined || tail === '' ? [] : tail.split(':');
  // A dotted IPv4 tail fills two groups.
  const size = (groups: string[]) => groups.reduce((n, g) => n + (g.includes('.') ? 2 : 1), 0);
  const groups = tail === undefined ? left : [...left, ...Array<string>(8 - size(left) - size(right)).fill('0'), ...right];
  return `${groups
    .slice(0, 4)
    .map((g) => Number.parseInt(g, 16).toString(16))
    .join(':')}::/64`;
}
