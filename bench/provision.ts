// How long creating a company takes, end to end, by each way of making its database: cloned from the
// template with STRATEGY WAL_LOG, cloned with STRATEGY FILE_COPY, and an empty database plus every
// migration (the baseline). All three run in one process against one PostgreSQL, in rounds of one
// company per path with the order rotating each round, so that background noise hits them alike.
// Then two paths over HTTP (provision-http.ts): with the warm pool, and cloning, against bcrypt.
//
//   npm run bench:provision [-- --count N]     N companies per path (default 50; or BENCH_COUNT)
//   ... -- --paths wal,mig                     only some paths (wal, copy, mig, warm, clone; or BENCH_PATHS)
//   BENCH_DATABASE_URL=postgres://...          an existing server instead of an embedded one
//
// Results and their reading: docs/provisioning.md.
import { hashPassword } from '../src/base/auth/passwords.ts';
import { loadConfig } from '../src/base/config/config.ts';
import type { ProvisionStep, SiloContext } from '../src/context.ts';
import { templateNames } from '../src/base/names.ts';
import { benchHttpPaths } from './provision-http.ts';
import { provisionCompany, type ProvisionOptions } from '../src/operations/provisioning/provision-company.ts';
import {
  formatTable,
  intOption,
  option,
  machineInfo,
  median,
  ms,
  openBenchSilo,
  serverInfo,
  startBenchServer,
  summarize,
  type BenchServer,
} from './support.ts';

interface Path {
  name: string;
  /** Slugs are `${slug}-NNN`. */
  slug: string;
  ctx: SiloContext;
  via: NonNullable<ProvisionOptions['via']>;
  runs: Run[];
}

/** One counted company: its id, the end-to-end time of provisionCompany and two parts of it. */
interface Run {
  companyId: string;
  ms: number;
  /** From the call to the saga's first step: slug check, bcrypt (started here), placement, the row. */
  beforeSaga: number;
  /** From the activation step to the return: the activation transaction with the audit rows. */
  activation: number;
  /** WAL the server wrote from just before the call to just after it (anything else running included). */
  walBytes: number;
}

/** Where the server's WAL insert position is, in bytes; NaN when the login may not ask. */
async function walPosition(ctx: SiloContext): Promise<number> {
  try {
    const [row] = await ctx.sql<{ bytes: number }[]>`
      select pg_wal_lsn_diff(pg_current_wal_insert_lsn(), '0/0')::float8 as bytes`;
    return row?.bytes ?? Number.NaN;
  } catch {
    return Number.NaN;
  }
}

/** The saga's audited steps, in order ('migrate' only on the migrations path, 'ownership' only on clones). */
const STEPS = ['role', 'database', 'revoke', 'ownership', 'migrate', 'first_admin'] as const;
const BCRYPT_SAMPLES = 10;

async function provisionOne(path: Path, label: string): Promise<Run> {
  const slug = `${path.slug}-${label}`;
  // The saga announces each step to this hook (the tests use it to inject failures): a timestamp.
  const marks: Partial<Record<ProvisionStep, number>> = {};
  const ctx: SiloContext = {
    ...path.ctx,
    beforeProvisionStep: (step) => {
      marks[step] = performance.now();
    },
  };
  const walBefore = await walPosition(ctx);
  const started = performance.now();
  const { company } = await provisionCompany(
    ctx,
    { name: `Bench ${slug}`, slug, admin: { email: `admin@${slug}.example`, password: 'bench-password-1' } },
    'bench',
    { via: path.via },
  );
  const ended = performance.now();
  return {
    companyId: company.id,
    ms: ended - started,
    beforeSaga: (marks.role ?? Number.NaN) - started,
    activation: ended - (marks.activate ?? Number.NaN),
    walBytes: (await walPosition(ctx)) - walBefore,
  };
}

interface AuditRow {
  company_id: string;
  action: string;
  duration_ms: number | null;
  via: string | null;
}

/** Per path and step, the durations the saga itself recorded in company_database_logs. */
async function stepDurations(ctx: SiloContext, paths: Path[]) {
  const ids = paths.flatMap((p) => p.runs.map((r) => r.companyId));
  const rows = await ctx.sql<AuditRow[]>`
    select company_id, action, duration_ms, details->>'via' as via
    from company_database_logs
    where status = 'ok' and company_id in ${ctx.sql(ids)}`;
  const byCompany = new Map<string, AuditRow[]>();
  for (const row of rows) byCompany.set(row.company_id, [...(byCompany.get(row.company_id) ?? []), row]);

  return paths.map((path) => {
    const steps = new Map<string, number[]>();
    const add = (key: string, value: number) => steps.set(key, [...(steps.get(key) ?? []), value]);
    let wrongVia = 0;
    for (const run of path.runs) {
      let stepSum = 0;
      for (const row of byCompany.get(run.companyId) ?? []) {
        const duration = row.duration_ms ?? Number.NaN;
        if (row.action === 'created') {
          add('created', duration);
          add('outside', run.ms - duration);
          if (row.via !== path.via) wrongVia++;
        } else {
          add(row.action.replace(/^provision\./, ''), duration);
          stepSum += duration;
        }
      }
      add('sum', stepSum);
      add('beforeSaga', run.beforeSaga);
      add('activation', run.activation);
    }
    return { steps, wrongVia };
  });
}

async function bench(server: BenchServer): Promise<void> {
  const count = intOption('count', 'BENCH_COUNT', 50);
  const chosen = (option('paths', 'BENCH_PATHS') ?? 'wal,copy,mig,warm,clone').split(',');
  if (chosen.some((p) => !['wal', 'copy', 'mig', 'warm', 'clone'].includes(p))) {
    throw new Error('--paths / BENCH_PATHS is a comma-separated list of wal, copy, mig, warm and clone');
  }
  const benchSilo = await openBenchSilo(server.url, { SILO_TEMPLATE_STRATEGY: 'WAL_LOG' });
  try {
    const silo = benchSilo.silo.ctx;
    // These three paths clone (or migrate) every time: no warm pool.
    const ctx: SiloContext = { ...silo, config: { ...silo.config, warmPool: 0 } };
    // The default server takes 500 companies; make room for every one this run creates.
    await ctx.sql`update database_servers set capacity = greatest(capacity, ${5 * (count + 1) + 10})`;
    // The same Silo, template and server, loaded with the other strategy.
    const fileCopy: SiloContext = {
      ...ctx,
      config: loadConfig({ ...benchSilo.env, SILO_TEMPLATE_STRATEGY: 'FILE_COPY', SILO_WARM_POOL: '0' }),
    };
    const all: Path[] = [
      { name: 'template (WAL_LOG)', slug: 'wal', ctx, via: 'template', runs: [] },
      { name: 'template (FILE_COPY)', slug: 'copy', ctx: fileCopy, via: 'template', runs: [] },
      { name: 'migrations (baseline)', slug: 'mig', ctx, via: 'migrations', runs: [] },
    ];
    const paths = all.filter((p) => chosen.includes(p.slug));

    const template = templateNames(ctx.config.dbPrefix).database;
    const [size] = await ctx.sql<{ size: string }[]>`select pg_size_pretty(pg_database_size(${template})) as size`;
    console.log('Silo provisioning benchmark');
    console.log(`  postgres:   ${await serverInfo(ctx.sql)} (${server.embedded ? 'embedded' : 'BENCH_DATABASE_URL'})`);
    console.log(`  machine:    ${machineInfo()}`);
    console.log(
      `  template:   ${template}, ${size?.size}, at ${ctx.tenantMigrations.latest} ` +
        `(${ctx.tenantMigrations.migrations.length} tenant migration(s))`,
    );

    // bcrypt alone, for scale: the saga hashes the first admin's password (cost 10).
    const hashes: number[] = [];
    for (let i = 0; i < BCRYPT_SAMPLES; i++) {
      const started = performance.now();
      await hashPassword('bench-password-1');
      hashes.push(performance.now() - started);
    }
    console.log(`  bcrypt:     hashPassword alone, p50 ${ms(median(hashes))} ms over ${BCRYPT_SAMPLES}`);
    console.log(`  companies:  ${count} per path (${paths.map((p) => p.slug).join(', ')}) after one uncounted warm-up round;`);
    console.log('              one company of each path per round, the order rotating each round\n');

    if (paths.length > 0) {
      for (const path of paths) await provisionOne(path, 'warm');
      for (let round = 0; round < count; round++) {
        for (let k = 0; k < paths.length; k++) {
          const path = paths[(round + k) % paths.length]!;
          path.runs.push(await provisionOne(path, String(round).padStart(3, '0')));
        }
        if ((round + 1) % 10 === 0 && round + 1 < count) process.stderr.write(`  ... ${round + 1}/${count} rounds\n`);
      }

      const summaries = paths.map((p) => summarize(p.runs.map((r) => r.ms)));
      console.log('End to end: provisionCompany, from the slug check to the activated company (bcrypt included)');
      console.log(
        formatTable(
          ['path', 'n', 'p50 ms', 'p95 ms', 'mean ms'],
          paths.map((p, i) => [p.name, String(summaries[i]!.n), ms(summaries[i]!.p50), ms(summaries[i]!.p95), ms(summaries[i]!.mean)]),
        ),
      );
      const walMiB = (p: Path) => (median(p.runs.map((r) => r.walBytes)) / 2 ** 20).toFixed(1);
      console.log(`WAL written per company, median: ${paths.map((p) => `${p.name} ${walMiB(p)} MiB`).join(', ')}`);
      const p50 = (slug: string) => summaries[paths.findIndex((p) => p.slug === slug)]?.p50 ?? Number.NaN;
      const ratio = (a: string, b: string) => (Number.isNaN(p50(a) / p50(b)) ? '-' : `${(p50(a) / p50(b)).toFixed(2)}x`);
      console.log(`\nmigrations p50 / template p50: WAL_LOG ${ratio('mig', 'wal')}, FILE_COPY ${ratio('mig', 'copy')}`);
      console.log(`FILE_COPY p50 / WAL_LOG p50: ${ratio('copy', 'wal')}`);
      const target = Number.isNaN(p50('wal')) ? 'not measured' : p50('wal') < 100 ? 'met' : 'NOT met';
      console.log(`target (template p50 < 100 ms with the default WAL_LOG): ${target}`);

      const audited = await stepDurations(ctx, paths);
      const rows: [string, string][] = [
        ...STEPS.map((s) => [s, s] as [string, string]),
        ['sum', 'sum of the steps'],
        ['created', "created (the saga's total)"],
        ['outside', 'end to end - created'],
        ['beforeSaga', '  of which before the saga'],
        ['activation', '  of which activation'],
      ];
      console.log('\nMedian per step, ms (steps and created: company_database_logs, whole ms; the rest: timed here)');
      console.log(
        formatTable(
          ['step', ...paths.map((p) => p.name)],
          rows.map(([key, label]) => [label, ...audited.map((a) => ms(median(a.steps.get(key) ?? [])))]),
        ),
      );
      for (const [i, a] of audited.entries()) {
        if (a.wrongVia > 0) console.log(`WARNING: ${a.wrongVia} ${paths[i]!.name} companies were not created via ${paths[i]!.via}`);
      }
    }
    const http = chosen.filter((p) => p === 'warm' || p === 'clone');
    if (http.length > 0) await benchHttpPaths(silo, count, http);
  } finally {
    await benchSilo.close();
  }
}

const server = await startBenchServer();
let failed = false;
try {
  await bench(server);
} catch (error) {
  failed = true;
  console.error('benchmark failed:', error);
} finally {
  await server.stop().catch((error: unknown) => {
    failed = true;
    console.error('could not stop the PostgreSQL server:', error);
  });
}
// Explicitly, with the run's status: an open handle must not keep a finished bench alive.
process.exit(failed ? 1 : 0);
