// bench:provision's HTTP paths: `POST /api/companies` over a real socket to a Silo app served as
// `npm start` serves it, with the warm pool (a claim) and without it (SILO_WARM_POOL=0: a clone),
// against one bcrypt hash of the first admin's password timed in the same rounds: a sign-up that
// hashes a password cannot answer faster than that hash. The pool is refilled between rounds,
// outside the timing, as the background refiller does between sign-ups.
import { serve, type ServerType } from '@hono/node-server';
import { eq } from 'drizzle-orm';
import { hashPassword } from '../src/base/auth/passwords.ts';
import type { ProvisionStep, SiloContext } from '../src/context.ts';
import { companyDatabaseLogs, databaseServers } from '../src/control-plane/schema.ts';
import { createSystemAdmin } from '../src/control-plane/system-users.ts';
import { createApp } from '../src/http/app.ts';
import { refillServer } from '../src/operations/provisioning/warm-pool.ts';
import { formatTable, median, ms, percentile, summarize } from './support.ts';

interface HttpPath {
  name: string;
  slug: string;
  ctx: SiloContext;
  url: string;
  server: ServerType;
  /** End to end, as the client sees it. */
  total: number[];
  /** From the saga's first step to the start of first_admin: the database part. */
  database: number[];
  /** Where the rest of the time goes: before the saga, first_admin (waiting for bcrypt), activation and answer. */
  phases: { before: number; firstAdmin: number; after: number }[];
  companyIds: string[];
}

let marks: Partial<Record<ProvisionStep, number>> = {};

async function servePath(ctx: SiloContext, name: string, slug: string, warmPool: number): Promise<HttpPath> {
  const pathCtx: SiloContext = {
    ...ctx,
    config: { ...ctx.config, warmPool },
    beforeProvisionStep: (step) => {
      marks[step] = performance.now();
    },
  };
  const app = createApp(pathCtx);
  const { server, port } = await new Promise<{ server: ServerType; port: number }>((resolve) => {
    const s = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, (info) => resolve({ server: s, port: info.port }));
  });
  return {
    name,
    slug,
    ctx: pathCtx,
    url: `http://127.0.0.1:${port}/api/companies`,
    server,
    total: [],
    database: [],
    phases: [],
    companyIds: [],
  };
}

interface Created {
  total: number;
  database: number;
  phases: HttpPath['phases'][number];
  id: string;
}

async function createOne(path: HttpPath, token: string, label: string): Promise<Created> {
  const slug = `${path.slug}-${label}`;
  marks = {};
  const started = performance.now();
  const res = await fetch(path.url, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ name: `Bench ${slug}`, slug, admin: { email: `admin@${slug}.example`, password: 'bench-password-1' } }),
  });
  const body = (await res.json()) as { id: string };
  const ended = performance.now();
  const total = ended - started;
  if (res.status !== 201) throw new Error(`POST /api/companies answered ${res.status}: ${JSON.stringify(body)}`);
  const first = marks.claim ?? marks.role ?? Number.NaN;
  const firstAdmin = marks.first_admin ?? Number.NaN;
  const activate = marks.activate ?? Number.NaN;
  return {
    total,
    database: firstAdmin - first,
    phases: { before: first - started, firstAdmin: activate - firstAdmin, after: ended - activate },
    id: body.id,
  };
}

export async function benchHttpPaths(ctx: SiloContext, count: number, chosen: string[]): Promise<void> {
  const [server] = await ctx.db.select({ id: databaseServers.id }).from(databaseServers).where(eq(databaseServers.provider, 'postgres'));
  const admin = await createSystemAdmin(ctx, { email: 'bench@silo.example', password: 'bench-admin-password' });
  const { token } = await ctx.tokens.issue({ sub: admin.id, role: 'system_admin' });
  const all = [
    await servePath(ctx, `HTTP, warm pool (${ctx.config.warmPool})`, 'warm', ctx.config.warmPool),
    await servePath(ctx, 'HTTP, clone (SILO_WARM_POOL=0)', 'clone', 0),
  ];
  const paths = all.filter((p) => chosen.includes(p.slug));
  for (const path of all.filter((p) => !paths.includes(p))) path.server.close();
  const hashes: number[] = [];
  try {
    await refillServer(ctx, server!.id);
    for (const path of paths) await createOne(path, token, 'warmup');
    for (let round = 0; round < count; round++) {
      // Outside the timing: the background refiller's work between sign-ups.
      await refillServer(ctx, server!.id);
      const started = performance.now();
      await hashPassword('bench-password-1');
      hashes.push(performance.now() - started);
      for (let k = 0; k < paths.length; k++) {
        const path = paths[(round + k) % paths.length]!;
        const run = await createOne(path, token, String(round).padStart(3, '0'));
        path.total.push(run.total);
        path.database.push(run.database);
        path.phases.push(run.phases);
        path.companyIds.push(run.id);
      }
      if ((round + 1) % 10 === 0 && round + 1 < count) process.stderr.write(`  ... ${round + 1}/${count} HTTP rounds\n`);
    }
  } finally {
    for (const path of paths) path.server.close();
  }

  const bcrypt = median(hashes);
  console.log(`\nOver HTTP: POST /api/companies end to end (client side), ${count} per path, one bcrypt hash timed per round`);
  console.log(
    formatTable(
      ['path', 'n', 'p50 ms', 'p95 ms', 'p99 ms', 'p50 / bcrypt', 'database part p50 ms', 'database part p99 ms'],
      [
        [
          'bcrypt hash alone (baseline)',
          String(hashes.length),
          ms(bcrypt),
          ms(percentile(hashes, 95)),
          ms(percentile(hashes, 99)),
          '1.00x',
          '-',
          '-',
        ],
        ...paths.map((p) => {
          const s = summarize(p.total);
          return [
            p.name,
            String(s.n),
            ms(s.p50),
            ms(s.p95),
            ms(percentile(p.total, 99)),
            `${(s.p50 / bcrypt).toFixed(2)}x`,
            ms(median(p.database)),
            ms(percentile(p.database, 99)),
          ];
        }),
      ],
    ),
  );
  console.log('Median per phase, ms (client side, timed here)');
  const phase = (p: HttpPath, key: keyof HttpPath['phases'][number]) => ms(median(p.phases.map((x) => x[key])));
  console.log(
    formatTable(
      ['phase', ...paths.map((p) => p.name)],
      [
        ["request to the saga's first step (auth, slug check, placement, row)", ...paths.map((p) => phase(p, 'before'))],
        ['database part (claim; or role .. ownership)', ...paths.map((p) => ms(median(p.database)))],
        ['first_admin (waits for bcrypt, then one insert)', ...paths.map((p) => phase(p, 'firstAdmin'))],
        ['activation and the answer', ...paths.map((p) => phase(p, 'after'))],
      ],
    ),
  );
  const warm = paths.find((p) => p.slug === 'warm');
  if (warm) {
    const ratio = median(warm.total) / bcrypt;
    const part = median(warm.database);
    console.log(`target (warm pool): p50 <= 1.15x bcrypt: ${ratio <= 1.15 ? 'met' : 'NOT met'} (${ratio.toFixed(2)}x)`);
    console.log(`target (warm pool): database part p50 <= 15 ms: ${part <= 15 ? 'met' : 'NOT met'} (${ms(part)} ms)`);
    const vias = await ctx.db
      .select({ via: companyDatabaseLogs.details })
      .from(companyDatabaseLogs)
      .where(eq(companyDatabaseLogs.action, 'created'));
    const claimed = vias.filter((v) => v.via?.via === 'warm').length;
    if (claimed < warm.companyIds.length)
      console.log(`WARNING: only ${claimed} of ${warm.companyIds.length} warm-path companies claimed a warm database`);
  }
  console.log("database part: from the saga's first step (claim, or role) to the start of first_admin");
}
