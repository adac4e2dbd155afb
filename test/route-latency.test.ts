// The request latency histogram Silo keeps itself (src/http/route-latency.ts) must expose what
// prom-client's own Histogram would for the same observations: same series, same values.
import { Histogram, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { RouteLatency } from '../src/http/route-latency.ts';

const BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

/** Each sample line as `name{labels sorted}` -> value, so that label order does not matter. */
function series(text: string): Map<string, number> {
  const result = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const match = /^([^{ ]+)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match) throw new Error(`not a sample line: ${line}`);
    const labels = (match[2] ?? '')
      .split(/,(?=\w+=")/)
      .filter(Boolean)
      .sort()
      .join(',');
    result.set(`${match[1]}{${labels}}`, Number(match[3]));
  }
  return result;
}

describe('RouteLatency', () => {
  it('exposes the same series and values as prom-client’s Histogram', async () => {
    const ours = new Registry();
    const theirs = new Registry();
    const latency = new RouteLatency('silo_http_request_duration_seconds', 'latency', BUCKETS, ours);
    const histogram = new Histogram({
      name: 'silo_http_request_duration_seconds',
      help: 'latency',
      labelNames: ['method', 'route', 'status'],
      buckets: BUCKETS,
      registers: [theirs],
    });
    const observations: [string, string, number, number][] = [
      ['GET', '/api/documents/:id', 200, 0.0004],
      ['GET', '/api/documents/:id', 200, 0.001],
      ['GET', '/api/documents/:id', 200, 0.0011],
      ['GET', '/api/documents/:id', 404, 0.003],
      ['POST', '/api/documents', 201, 7.5],
      ['GET', 'unmatched', 404, 0.05],
      ['GET', '/api/users/:id', 200, 5],
    ];
    for (const [method, route, status, seconds] of observations) {
      latency.observe(method, route, status, seconds);
      histogram.observe({ method, route, status }, seconds);
    }
    const expected = series(await theirs.metrics());
    expect(expected.size).toBe(5 * (BUCKETS.length + 3));
    expect(series(await ours.metrics())).toEqual(expected);
    expect(await ours.metrics()).toContain('# TYPE silo_http_request_duration_seconds histogram');

    ours.resetMetrics();
    expect(series(await ours.metrics()).size).toBe(0);
  });
});
