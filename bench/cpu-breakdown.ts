// Where a server's CPU goes per request, from a V8 CPU profile (.cpuprofile, as `node --cpu-prof`
// or bench/request-server.ts's BENCH_PROFILE_OUT writes): every sample is charged to a component of
// the request path (the HTTP adapter, Hono's router, each middleware, zod, drizzle, postgres.js,
// GC, promise turns...), recognised by the file its frames come from, and divided by the number of
// requests the process answered while it was sampled.
//
// The profiler samples the main thread only. The process's CPU time (bench/request-server.ts
// records it, all threads) is shown beside the sampled total: the difference is the work of other
// threads (V8's parallel and concurrent GC helpers, libuv's pool, the profiler itself) less any
// time the main thread was set aside by the kernel while in a frame (sampled, but not CPU).
//
// Two figures per component:
//   own   each sample is charged once, to the innermost component on its stack: a component's
//         figure holds its own code and what it calls (builtins, lru-cache, JSON) unless that is a
//         component of its own. The column adds up to the profile's CPU per request.
//   incl  the samples with the component anywhere on the stack (self + everything it calls). Only
//         the synchronous stack is seen: code resumed after an `await` starts a new stack, so an
//         async middleware's figure does not hold the rest of the request.
import { readFileSync } from 'node:fs';

interface CallFrame {
  functionName: string;
  url: string;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}
interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

/** A component and how to recognise its frames; the first rule a frame matches names it. */
interface Rule {
  name: string;
  matches(frame: CallFrame): boolean;
}
const inFile =
  (...parts: string[]) =>
  (f: CallFrame) =>
    parts.some((part) => f.url.includes(part));
const named = (name: string) => (f: CallFrame) => f.functionName === name;

/** In the order the table prints them: roughly the order a request meets them. */
export const RULES: readonly Rule[] = [
  { name: 'Node HTTP (parser, response)', matches: inFile('node:_http', 'node:internal/http') },
  {
    name: 'sockets, streams (HTTP and Postgres)',
    matches: inFile('node:net', 'node:internal/streams', 'node:stream', 'node:internal/stream_base'),
  },
  { name: '@hono/node-server adapter', matches: inFile('/@hono/node-server/') },
  { name: 'Hono router', matches: (f) => f.url.includes('/hono/dist/') && f.url.includes('/router/') },
  {
    name: 'zod + @hono/zod-openapi (param check)',
    matches: inFile('/zod/', '@hono/zod-openapi', '@hono/zod-validator', '/hono/dist/validator/'),
  },
  { name: 'Hono core (compose, context, c.json)', matches: inFile('/hono/dist/') },
  { name: 'request id + headers (app.ts middleware)', matches: inFile('/src/http/app.ts') },
  { name: 'latency metric (prom-client)', matches: inFile('/src/http/metrics.ts', '/prom-client/', '/tdigest/', '/bintrees/') },
  {
    name: 'access log (pino, sonic-boom)',
    matches: inFile('/pino/', '/sonic-boom/', '/src/base/logger.ts', '/fast-redact/', '/quick-format-unescaped/', '/atomic-sleep/'),
  },
  {
    name: 'auth: bearer token + subject check',
    matches: inFile('/src/http/middleware/auth.ts', '/src/base/auth/', '/token-subjects.ts', '/jose/'),
  },
  { name: 'user check (role cache)', matches: (f) => named('userRole')(f) || inFile('/data-plane/company-plane/users.ts')(f) },
  {
    name: 'tenant resolution (registry cache, pool map)',
    matches: inFile(
      '/src/http/middleware/tenant.ts',
      '/company-auth.ts',
      '/src/data-plane/tenants.ts',
      '/pool-map.ts',
      '/rotating-login.ts',
      '/write-hold.ts',
    ),
  },
  {
    name: 'route handler (route, row to JSON)',
    matches: inFile('/src/http/routes/', '/data-plane/company-plane/documents.ts', '/bench/request-server.ts'),
  },
  // V8 charges a function it inlined to its caller: the columns' mapping, inlined here, shows up here.
  { name: 'prepared read (prepared.ts: send, decode row)', matches: inFile('/src/data-plane/prepared.ts') },
  { name: 'drizzle: row mapping', matches: (f) => f.url.includes('/drizzle-orm/') && /^map/.test(f.functionName) },
  { name: 'drizzle: prepared execution', matches: inFile('/drizzle-orm/') },
  { name: 'postgres.js', matches: inFile('/node_modules/postgres/') },
  {
    name: 'promise turns (microtask, nextTick queues)',
    matches: (f) => f.url.includes('node:internal/process/task_queues') || named('runMicrotasks')(f),
  },
  { name: 'timers', matches: inFile('node:internal/timers') },
  { name: 'garbage collection', matches: named('(garbage collector)') },
  { name: '(program): V8 / native, no JS frame', matches: named('(program)') },
  { name: 'bench harness (IPC stats)', matches: inFile('node:internal/child_process') },
];
export const OTHER = 'other';
const IDLE = '(idle)';

export interface Breakdown {
  requests: number;
  /** µs per request sampled on the main thread (idle left out); the `own` figures add up to it. */
  total: number;
  /** µs of CPU per request of the whole process (all threads) over the same time, when known. */
  processCpu?: number;
  own: Map<string, number>;
  incl: Map<string, number>;
  /** The heaviest frames charged to OTHER, µs per request, to tell which rule is missing. */
  otherFrames: [string, number][];
  /** Every function's self time (the sample's leaf), µs per request, heaviest first. */
  selfFrames: [string, number][];
}

const frameName = (f: CallFrame, line?: number) =>
  `${f.functionName || '(anonymous)'} ${f.url.replace(/^.*node_modules\//, '').replace(/^.*\/(src|bench)\//, '$1/')}${line === undefined ? '' : `:${line + 1}`}`;

export function breakdown(profilePath: string, requests: number, cpuMicros?: number): Breakdown {
  const profile = JSON.parse(readFileSync(profilePath, 'utf8')) as CpuProfile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);
  // Each node's component, and the components on the path from the root to it, computed once.
  const component = new Map<number, string | undefined>();
  for (const node of profile.nodes) component.set(node.id, RULES.find((r) => r.matches(node.callFrame))?.name);
  const own = new Map<string, number>();
  const incl = new Map<string, number>();
  const otherFrames = new Map<string, number>();
  const selfFrames = new Map<string, number>();
  let total = 0;
  const add = (map: Map<string, number>, key: string, value: number) => map.set(key, (map.get(key) ?? 0) + value);

  profile.samples.forEach((id, i) => {
    // A sample stands for the time until the next one.
    const micros = profile.timeDeltas[i + 1] ?? 0;
    const leaf = byId.get(id)!;
    if (leaf.callFrame.functionName === IDLE) return;
    total += micros;
    let innermost: string | undefined;
    const seen = new Set<string>();
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const name = component.get(at);
      if (name === undefined) continue;
      innermost ??= name;
      seen.add(name);
    }
    add(own, innermost ?? OTHER, micros);
    for (const name of seen) add(incl, name, micros);
    if (innermost === undefined) add(otherFrames, frameName(leaf.callFrame), micros);
    add(selfFrames, `${frameName(leaf.callFrame, (leaf.callFrame as { lineNumber?: number }).lineNumber)} [${innermost ?? OTHER}]`, micros);
  });

  const perRequest = (map: Map<string, number>) => new Map([...map].map(([k, v]) => [k, v / requests]));
  return {
    requests,
    total: total / requests,
    ...(cpuMicros === undefined ? {} : { processCpu: cpuMicros / requests }),
    own: perRequest(own),
    incl: perRequest(incl),
    otherFrames: [...perRequest(otherFrames)].sort((a, b) => b[1] - a[1]).slice(0, 8),
    selfFrames: [...perRequest(selfFrames)].sort((a, b) => b[1] - a[1]),
  };
}
