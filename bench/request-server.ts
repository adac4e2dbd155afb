// A server under test for bench/requests.ts, run as a child process of its own (forked with tsx and
// an IPC channel) so that it shares its event loop with neither the load generator nor the other
// server. BENCH_MODE picks what it serves, on 127.0.0.1 and a free port:
//
//   silo   Silo as `npm start` builds it (limitHeapGrowth + openSilo + createApp + serve),
//          configured by the environment (SILO_*, DATABASE_URL); BENCH_V8_HEAP_GROWTH=1 leaves
//          V8's default heap growth (the baseline of (d)'s memory).
//   bare   the physical limit of this stack: Hono on @hono/node-server with no auth, reading one
//          document by primary key on a postgres.js client opened before the first request
//          (BENCH_TENANT_URL, the tenant role's URL; pipelined like Silo's tenant pools), plus the
//          naive pattern: a client created, queried and ended per request, logged in as the same role.
//
// It tells the parent { type: 'ready', port } once listening, answers { type: 'stats' } with its
// RSS, its CPU time and (silo) the pool map's figures, sends { type: 'rss' } every 250 ms, and shuts down
// cleanly on SIGTERM.
//
// With BENCH_PROFILE_OUT=<path>, V8's CPU profiler (what `node --cpu-prof` runs) samples the process
// from the moment it listens, so start-up is left out, and on SIGTERM it writes <path>.cpuprofile
// beside <path>.requests (the requests answered and the CPU time used while profiled), which
// bench/requests-profile.ts turns into microseconds per request by component.
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { serve, type ServerType } from '@hono/node-server';
import { Hono } from 'hono';
import postgres from 'postgres';
import { openSilo, type Silo } from '../src/bootstrap.ts';
import { loadConfig } from '../src/base/config/config.ts';
import { createApp } from '../src/http/app.ts';
import { tenantPipelineOption } from '../src/data-plane/tenant-db.ts';
import { limitHeapGrowth } from '../src/base/heap-growth.ts';

export type ServerMessage =
  | { type: 'ready'; port: number }
  | { type: 'rss'; rss: number; heapUsed: number; heapTotal: number }
  | { type: 'stats'; rss: number; cpuMicros: number; pools: Record<string, number> | null };

const send = (message: ServerMessage) => process.send?.(message);

// The same columns, and the same JSON, as GET /api/documents/:id.
interface DocumentRow {
  id: string;
  title: string;
  content: string;
  tags: string[];
  metadata: Record<string, unknown>;
  created_by: string | null;
  created_at: Date;
  updated_at: Date;
}
const toJson = (row: DocumentRow) => ({
  id: row.id,
  title: row.title,
  content: row.content,
  tags: row.tags,
  metadata: row.metadata,
  createdBy: row.created_by,
  createdAt: row.created_at.toISOString(),
  updatedAt: row.updated_at.toISOString(),
});

async function bareApp(tenantUrl: string, poolSize: number) {
  // Pipelined like Silo's tenant pools (src/data-plane/tenant-db.ts says why), so that both sides run
  // the driver the same way.
  const sql = postgres(tenantUrl, { max: poolSize, ...tenantPipelineOption, onnotice: () => {} });
  const byId = (db: postgres.Sql, id: string) =>
    db<DocumentRow[]>`
      select id, title, content, tags, metadata, created_by, created_at, updated_at from documents where id = ${id}`;
  // Open every connection of the pool before the first request.
  await Promise.all(Array.from({ length: poolSize }, () => sql`select pg_sleep(0.05)`));

  const app = new Hono();
  app.get('/documents/:id', async (c) => {
    const [row] = await byId(sql, c.req.param('id'));
    return row ? c.json(toJson(row)) : c.json({ error: 'not found' }, 404);
  });
  app.get('/naive/documents/:id', async (c) => {
    const once = postgres(tenantUrl, { max: 1, onnotice: () => {} });
    try {
      const [row] = await byId(once, c.req.param('id'));
      return row ? c.json(toJson(row)) : c.json({ error: 'not found' }, 404);
    } finally {
      await once.end();
    }
  });
  return { fetch: app.fetch, close: () => sql.end({ timeout: 5 }), pools: () => null };
}

async function siloApp() {
  // As src/main.ts does first thing; BENCH_V8_HEAP_GROWTH=1 leaves V8's default, (d)'s baseline.
  if (process.env.BENCH_V8_HEAP_GROWTH !== '1') limitHeapGrowth();
  const silo: Silo = await openSilo(loadConfig(process.env), { prepareTemplates: true, listen: true });
  const app = createApp(silo.ctx);
  return {
    fetch: app.fetch,
    close: () => silo.close(),
    pools: () => ({ ...silo.ctx.tenants.pools.stats() }) as unknown as Record<string, number>,
  };
}

async function main() {
  const mode = process.env.BENCH_MODE;
  const target =
    mode === 'silo'
      ? await siloApp()
      : mode === 'bare'
        ? await bareApp(process.env.BENCH_TENANT_URL ?? '', Number(process.env.BENCH_POOL_SIZE ?? 3))
        : null;
  if (!target) throw new Error('BENCH_MODE must be silo or bare');

  const profileOut = process.env.BENCH_PROFILE_OUT;
  const profiler = profileOut ? await startProfiler(Number(process.env.BENCH_PROFILE_INTERVAL_US ?? 250)) : null;
  const server: ServerType = serve({ fetch: target.fetch, port: 0, hostname: '127.0.0.1' }, (info) =>
    send({ type: 'ready', port: info.port }),
  );
  let answered = 0;
  if (profiler) server.on('request', () => answered++);
  const sampler = setInterval(() => {
    const { rss, heapUsed, heapTotal } = process.memoryUsage();
    send({ type: 'rss', rss, heapUsed, heapTotal });
  }, 250);
  process.on('message', (message: { type?: string }) => {
    if (message?.type !== 'stats') return;
    // CPU time (user + system) of this process since it started: the parent takes the difference
    // over a phase to get the server's CPU per request, a figure the machine's load disturbs far
    // less than requests per second.
    const { user, system } = process.cpuUsage();
    send({ type: 'stats', rss: process.memoryUsage().rss, cpuMicros: user + system, pools: target.pools() });
  });

  let stopping = false;
  process.on('SIGTERM', () => {
    if (stopping) return;
    stopping = true;
    clearInterval(sampler);
    server.close();
    (profiler && profileOut ? profiler.stop(profileOut, answered) : Promise.resolve())
      .then(() => target.close())
      .catch((error: Error) => console.error(`request-server: ${error.message}`))
      .finally(() => process.exit(0));
  });
}

/** V8's sampling CPU profiler on this process, every `intervalMicros`. */
async function startProfiler(intervalMicros: number) {
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.setSamplingInterval', { interval: intervalMicros });
  await session.post('Profiler.start');
  const started = process.cpuUsage();
  return {
    async stop(path: string, requests: number) {
      const { profile } = await session.post('Profiler.stop');
      // The process's CPU time while profiled: the profiler samples wall time, and a process that
      // the kernel has set aside (two cores shared with PostgreSQL and the load generator) keeps
      // the frame it was in, so the breakdown is scaled to this.
      const { user, system } = process.cpuUsage(started);
      writeFileSync(`${path}.cpuprofile`, JSON.stringify(profile));
      writeFileSync(`${path}.requests`, `${JSON.stringify({ requests, cpuMicros: user + system })}\n`);
      session.disconnect();
    },
  };
}

main().catch((error: Error) => {
  console.error(`request-server (${process.env.BENCH_MODE}): ${error.stack ?? error.message}`);
  process.exit(1);
});
