// The load generator for bench/requests.ts: autocannon's API in a child process of its own, so that
// generating load never shares an event loop with a server under test. The parent sends one
// LoadJob over IPC; each request goes to a target picked at random (a path and its headers); the
// answer is a LoadResult with latencies measured per response (autocannon's own histogram keeps
// whole milliseconds, too coarse for sub-millisecond routes).
import autocannon from 'autocannon';

export interface LoadTarget {
  path: string;
  headers?: Record<string, string>;
}

export interface LoadJob {
  url: string;
  connections: number;
  /** Seconds of unmeasured load first (warm caches, JIT, pools). */
  warmupSeconds: number;
  seconds: number;
  targets: LoadTarget[];
}

export interface LoadResult {
  requests: number;
  perSecond: number;
  p50: number;
  p99: number;
  non2xx: number;
  errors: number;
  timeouts: number;
  statuses: Record<string, number>;
}

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

async function fire(job: LoadJob, seconds: number, measure: boolean): Promise<LoadResult> {
  const { targets } = job;
  const latencies: number[] = [];
  const statuses: Record<string, number> = {};
  const instance = autocannon({
    url: job.url,
    connections: job.connections,
    duration: seconds,
    requests: [
      {
        method: 'GET',
        setupRequest: (request: Record<string, unknown>) => {
          const target = targets[targets.length === 1 ? 0 : Math.floor(Math.random() * targets.length)]!;
          return { ...request, path: target.path, headers: { ...(request.headers as object), ...target.headers } };
        },
      },
    ],
  });
  if (measure) {
    instance.on('response', (_client: unknown, status: number, _bytes: number, ms: number) => {
      latencies.push(ms);
      statuses[status] = (statuses[status] ?? 0) + 1;
    });
  }
  const result = await instance;
  const sorted = Float64Array.from(latencies).sort();
  return {
    requests: result.requests.total,
    perSecond: result.requests.total / result.duration,
    p50: percentile(sorted, 50),
    p99: percentile(sorted, 99),
    non2xx: result.non2xx,
    errors: result.errors,
    timeouts: result.timeouts,
    statuses,
  };
}

process.once('message', (job: LoadJob) => {
  (async () => {
    if (job.warmupSeconds > 0) await fire(job, job.warmupSeconds, false);
    process.send!(await fire(job, job.seconds, true), () => process.exit(0));
  })().catch((error: Error) => {
    console.error(`requests-load: ${error.stack ?? error.message}`);
    process.exit(1);
  });
});
