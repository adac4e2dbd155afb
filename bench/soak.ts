// Soak: Silo over HTTP for a long while under churn. One operator loop creates, suspends,
// reactivates, migrates, moves and deletes companies (and moves the busy ones now and then) while
// 16 clients read and write documents of six steady companies on two database servers. Prints,
// every sample interval, RSS, heap, open file descriptors and what the clients got, then errors by
// kind. Targets: no 5xx but the documented 503s of a move's write hold (or of a company being
// moved), and RSS and descriptors flat after warm-up (the first sample after warm-up is the
// baseline each later one is compared with).
//
//   npm run bench:soak [-- --seconds N]     how long (default 600; or BENCH_SECONDS)
//   ... -- --sample N                       seconds between samples (default 30; or BENCH_SAMPLE)
//   BENCH_DATABASE_URL / BENCH_TARGET_URL   the two servers (admin logins) instead of embedded ones
//
// Results and their reading: docs/faults.md.
import { readdirSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { serve } from '@hono/node-server';
import { createApp } from '../src/http/app.ts';
import { addServer } from '../src/operations/servers.ts';
import { listServers } from '../src/control-plane/server-records.ts';
import { createSystemAdmin } from '../src/control-plane/system-users.ts';
import { formatTable, intOption, machineInfo, openBenchSilo, startBenchServer, startSecondBenchServer } from './support.ts';

const SECONDS = intOption('seconds', 'BENCH_SECONDS', 600);
const SAMPLE = intOption('sample', 'BENCH_SAMPLE', 30);
const CLIENTS = 16;
const WARMUP_SECONDS = Math.min(60, Math.floor(SECONDS / 5));
const PASSWORD = 'soak-password-1';

interface Sample {
  at: number;
  rssMb: number;
  heapMb: number;
  fds: number;
  requests: number;
  fiveHundreds: number;
}

const counts = new Map<string, number>();
const count = (kind: string) => counts.set(kind, (counts.get(kind) ?? 0) + 1);
let requests = 0;
let unexpected5xx = 0;
/** Companies being moved right now: a 503 for them is the documented write hold. */
const moving = new Set<string>();

async function main() {
  const first = await startBenchServer();
  const second = await startSecondBenchServer();
  const bench = await openBenchSilo(first.url);
  const ctx = bench.silo.ctx;
  const server = serve({ fetch: createApp(ctx).fetch, port: 0, hostname: '127.0.0.1' });
  await new Promise((done) => server.once('listening', done));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  const call = async (method: string, path: string, token: string | null, body?: unknown) => {
    const res = await fetch(`${base}${path}`, {
      method,
      headers: { ...(body ? { 'content-type': 'application/json' } : {}), ...(token ? { authorization: `Bearer ${token}` } : {}) },
      ...(body ? { body: JSON.stringify(body) } : {}),
    });
    const text = await res.text();
    return { status: res.status, body: text.startsWith('{') ? JSON.parse(text) : undefined, text };
  };

  const admin = await createSystemAdmin(ctx, { email: 'ops@soak.test', password: PASSWORD });
  const adminToken = (await ctx.tokens.issue({ sub: admin.id, role: 'system_admin' })).token;
  await addServer(ctx, { name: 'second', url: second.url });
  const serverIds = (await listServers(ctx)).map((s) => s.id);

  const create = async (slug: string, serverId: string) => {
    const created = await call('POST', '/api/companies', adminToken, {
      name: slug,
      slug,
      serverId,
      admin: { email: `boss@${slug}.test`, password: PASSWORD },
    });
    if (created.status !== 201) throw new Error(`creating ${slug}: ${created.status} ${created.text}`);
    return created.body as { id: string; serverId: string };
  };
  const steady: { slug: string; id: string; token: string; serverId: string }[] = [];
  for (let i = 0; i < 6; i++) {
    const slug = `steady-${i}`;
    const company = await create(slug, serverIds[i % 2]!);
    const login = await call('POST', '/api/auth/login', null, { email: `boss@${slug}.test`, password: PASSWORD, company: slug });
    steady.push({ slug, id: company.id, token: login.body.token, serverId: company.serverId });
  }

  const deadline = Date.now() + SECONDS * 1000;
  const record = (kind: string, status: number, companyId?: string) => {
    requests++;
    count(`${kind} ${status}`);
    if (status >= 500 && !(status === 503 && companyId && moving.has(companyId))) unexpected5xx++;
  };

  const client = async (n: number) => {
    for (let i = 0; Date.now() < deadline; i++) {
      const company = steady[(n + i) % steady.length]!;
      if (i % 3 === 0) {
        const res = await call('POST', '/api/documents', company.token, { title: `c${n}-${i}`, content: 'soak '.repeat(20) });
        record('write', res.status, company.id);
        if (res.status === 201 && i % 2 === 0) {
          const del = await call('DELETE', `/api/documents/${res.body.id}`, company.token);
          record('delete', del.status, company.id);
        }
      } else {
        const res = await call('GET', '/api/documents?limit=20', company.token);
        record('read', res.status, company.id);
      }
    }
  };

  const churn = async () => {
    for (let round = 0; Date.now() < deadline; round++) {
      const slug = `churn-${round}`;
      const company = await create(slug, serverIds[round % 2]!);
      const other = serverIds.find((id) => id !== company.serverId)!;
      const steps: [string, string, string, unknown?][] = [
        ['suspend', 'PATCH', `/api/companies/${slug}`, { status: 'suspended' }],
        ['reactivate', 'PATCH', `/api/companies/${slug}`, { status: 'active' }],
        ['migrate', 'POST', `/api/companies/${slug}/migrate`],
        ['move', 'POST', `/api/companies/${slug}/move`, { serverId: other }],
      ];
      for (const [kind, method, path, body] of steps) record(`churn:${kind}`, (await call(method, path, adminToken, body)).status);
      const deleted = await fetch(`${base}/api/companies/${slug}`, {
        method: 'DELETE',
        headers: { authorization: `Bearer ${adminToken}`, 'x-confirm': slug },
      });
      record('churn:delete', deleted.status);
      // Every fifth round, a busy company moves to the other server while the clients use it.
      if (round % 5 === 4) {
        const busy = steady[round % steady.length]!;
        const to = serverIds.find((id) => id !== busy.serverId)!;
        moving.add(busy.id);
        const moved = await call('POST', `/api/companies/${busy.slug}/move`, adminToken, { serverId: to });
        moving.delete(busy.id);
        record('churn:move-busy', moved.status);
        if (moved.status === 200) busy.serverId = to;
      }
    }
  };

  const samples: Sample[] = [];
  const started = Date.now();
  const sampler = async () => {
    while (Date.now() < deadline) {
      await sleep(Math.min(SAMPLE * 1000, Math.max(0, deadline - Date.now())));
      const memory = process.memoryUsage();
      samples.push({
        at: Math.round((Date.now() - started) / 1000),
        rssMb: memory.rss / 2 ** 20,
        heapMb: memory.heapUsed / 2 ** 20,
        fds: readdirSync('/proc/self/fd').length,
        requests,
        fiveHundreds: unexpected5xx,
      });
      const last = samples.at(-1)!;
      process.stderr.write(`  ${last.at}s: ${last.requests} requests, rss ${last.rssMb.toFixed(0)} MB, fds ${last.fds}\n`);
    }
  };

  console.log(`bench:soak: ${SECONDS} s, ${CLIENTS} clients, 6 steady companies on 2 servers, churn loop; ${machineInfo()}`);
  await Promise.all([...Array.from({ length: CLIENTS }, (_, n) => client(n)), churn(), sampler()]);

  const baseline = samples.find((s) => s.at >= WARMUP_SECONDS) ?? samples[0]!;
  console.log(
    `\n${formatTable(
      ['t (s)', 'requests', 'unexpected 5xx', 'RSS MB', 'RSS / baseline', 'heap MB', 'fds', 'fds - baseline'],
      samples.map((s) => [
        String(s.at),
        String(s.requests),
        String(s.fiveHundreds),
        s.rssMb.toFixed(0),
        `${(s.rssMb / baseline.rssMb).toFixed(2)}x`,
        s.heapMb.toFixed(0),
        String(s.fds),
        String(s.fds - baseline.fds),
      ]),
    )}`,
  );
  console.log(`baseline: the first sample after ${WARMUP_SECONDS} s of warm-up (t = ${baseline.at} s)`);
  console.log(
    `\n${formatTable(
      ['kind status', 'count'],
      [...counts.entries()].sort().map(([kind, n]) => [kind, String(n)]),
    )}`,
  );
  console.log(`\nunexpected 5xx: ${unexpected5xx} of ${requests} requests`);

  server.close();
  await bench.close();
  await second.stop();
  await first.stop();
  return unexpected5xx === 0;
}

// Explicitly, with the run's status: an open handle must not keep a finished bench alive.
main().then(
  (clean) => process.exit(clean ? 0 : 1),
  (error: Error) => {
    console.error(error);
    process.exit(1);
  },
);
