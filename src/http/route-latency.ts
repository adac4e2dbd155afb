// silo_http_request_duration_seconds: the latency of every answered request by method, route
// pattern and status, a Prometheus histogram kept here rather than in prom-client's Histogram.
// prom-client builds, validates and hashes a label object on every observation (about 5 µs of a
// warm read's CPU, docs/request-path.md); here one (method, route, status) finds its entry by one
// string key, and prom-client's registry only formats the figures when /metrics is scraped.
import type { Metric, MetricValueWithName, Registry } from 'prom-client';

interface Entry {
  labels: { method: string; route: string; status: number };
  /** Observations per bucket (not cumulative); the last slot is past the highest bound. */
  counts: Float64Array;
  sum: number;
  count: number;
}

export class RouteLatency {
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  private entries = new Map<string, Entry>();

  constructor(
    readonly name: string,
    readonly help: string,
    private readonly buckets: readonly number[],
    registry: Registry,
  ) {
    // The registry asks a metric only for get(), its name, type and aggregator, and reset().
    registry.registerMetric(this as unknown as Metric);
  }

  observe(method: string, route: string, status: number, seconds: number): void {
    const key = `${status} ${method} ${route}`;
    let entry = this.entries.get(key);
    if (!entry) {
      entry = { labels: { method, route, status }, counts: new Float64Array(this.buckets.length + 1), sum: 0, count: 0 };
      this.entries.set(key, entry);
    }
    let bucket = 0;
    while (bucket < this.buckets.length && seconds > this.buckets[bucket]!) bucket++;
    entry.counts[bucket]!++;
    entry.sum += seconds;
    entry.count++;
  }

  /** The figures as prom-client's Histogram gives them: cumulative buckets, +Inf, _sum and _count per label set. */
  async get(): Promise<{ name: string; help: string; type: string; values: MetricValueWithName<string>[]; aggregator: string }> {
    const values: MetricValueWithName<string>[] = [];
    for (const { labels, counts, sum, count } of this.entries.values()) {
      let cumulative = 0;
      this.buckets.forEach((le, i) => {
        cumulative += counts[i]!;
        values.push({ metricName: `${this.name}_bucket`, labels: { ...labels, le }, value: cumulative });
      });
      values.push({ metricName: `${this.name}_bucket`, labels: { ...labels, le: '+Inf' }, value: count });
      values.push({ metricName: `${this.name}_sum`, labels, value: sum });
      values.push({ metricName: `${this.name}_count`, labels, value: count });
    }
    return { name: this.name, help: this.help, type: this.type, values, aggregator: this.aggregator };
  }

  reset(): void {
    this.entries = new Map();
  }
}
