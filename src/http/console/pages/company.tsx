// GET /console/companies/:slug: one company. Its details and figures, a database test, the actions
// an operator takes on it (each a form posting to company-actions.ts), its backups and its audit log.
import type { Context } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import type { SiloContext } from '../../../context.ts';
import { getCompany, isServable } from '../../../control-plane/company-records.ts';
import type { CompanyRow } from '../../../control-plane/schema.ts';
import { listServers } from '../../../control-plane/server-records.ts';
import { listBackups } from '../../../operations/backups/backups.ts';
import { companyLogs, companyStats, testCompanyDatabase } from '../../../operations/companies.ts';
import type { ConsoleEnv, Web } from '../env.ts';
import { explain } from '../errors.tsx';
import { Page } from '../layout.tsx';
import { noticeFor } from '../notices.ts';
import { Badge, formatBytes, formatTime, Table } from '../parts.tsx';
import { BackupsSection } from './company-backups-section.tsx';
import { CompanyActions } from './company-actions-form.tsx';

type Servers = Awaited<ReturnType<typeof listServers>>;

const Details = ({ company, servers }: { company: CompanyRow; servers: Servers }) => (
  <dl class="details">
    <dt>Name</dt>
    <dd>{company.name}</dd>
    <dt>Slug</dt>
    <dd>
      <code>{company.slug}</code>
    </dd>
    <dt>Status</dt>
    <dd>
      <Badge value={company.status} />
    </dd>
    <dt>Server</dt>
    <dd>{servers.find((s) => s.id === company.serverId)?.name ?? '—'}</dd>
    <dt>Provider</dt>
    <dd>{company.provider}</dd>
    <dt>Database</dt>
    <dd>
      <code>{company.databaseName ?? '—'}</code>
    </dd>
    <dt>Schema version</dt>
    <dd>
      <code>{company.schemaVersion ?? '—'}</code>
    </dd>
    {company.migrationError && (
      <>
        <dt>Last migration failed</dt>
        <dd>{company.migrationError}</dd>
      </>
    )}
    <dt>Max users</dt>
    <dd>{company.maxUsers ?? 'no limit'}</dd>
    <dt>Backups</dt>
    <dd>{company.backupSchedule ? `every ${company.backupSchedule.everyHours} h, ${company.backupSchedule.keep} kept` : 'on request'}</dd>
    <dt>Created</dt>
    <dd>{formatTime(company.createdAt)}</dd>
    <dt>Id</dt>
    <dd>
      <code>{company.id}</code>
    </dd>
  </dl>
);

type Stats = Awaited<ReturnType<typeof companyStats>>;

const StatsSection = ({ stats, error }: { stats?: Stats | undefined; error?: string | undefined }) => (
  <section class="panel" aria-labelledby="stats-heading">
    <h2 id="stats-heading">Figures</h2>
    {error && <p class="error">{error}</p>}
    {stats && (
      <>
        <ul class="cards">
          <li>
            <span class="figure">{stats.users}</span> users
          </li>
          <li>
            <span class="figure">{stats.documents}</span> documents
          </li>
          <li>
            <span class="figure">{formatBytes(stats.databaseSizeBytes)}</span> database size
          </li>
          <li>
            <span class="figure">{stats.openConnections}</span> open connections
          </li>
        </ul>
        <p class="muted">
          Rows per table:{' '}
          {Object.entries(stats.rowsPerTable)
            .map(([table, rows]) => `${table} ${rows}`)
            .join(', ')}
        </p>
      </>
    )}
  </section>
);

type Test = Awaited<ReturnType<typeof testCompanyDatabase>>;

const DatabaseTest = ({ slug, test }: { slug: string; test?: Test | undefined }) => (
  <section class="panel" id="database" aria-labelledby="database-heading">
    <h2 id="database-heading">Database test</h2>
    {test && (
      <p class={test.ok ? 'notice' : 'error'} role="status">
        {test.ok
          ? `Connected as the company's role in ${test.latencyMs} ms: PostgreSQL ${test.serverVersion}, schema ${test.schemaVersion ?? '(none)'}, ${test.pendingMigrations} pending migrations.`
          : `The test failed after ${test.latencyMs} ms: ${'reason' in test ? test.reason : 'no reason given'}.`}
      </p>
    )}
    <form method="get" action={`/console/companies/${slug}#database`}>
      <input type="hidden" name="test" value="1" />
      <button type="submit" class="secondary">
        Test the database
      </button>
    </form>
  </section>
);

type Logs = Awaited<ReturnType<typeof companyLogs>>;

const AuditLog = ({ logs }: { logs: Logs }) => (
  <section class="panel" aria-labelledby="audit-heading">
    <h2 id="audit-heading">Audit log</h2>
    <Table caption="The company's audit log, newest first">
      <thead>
        <tr>
          <th>When</th>
          <th>Action</th>
          <th>Result</th>
          <th>By</th>
          <th class="num">ms</th>
          <th>Error</th>
        </tr>
      </thead>
      <tbody>
        {logs.items.map((entry) => (
          <tr>
            <td>{formatTime(entry.createdAt)}</td>
            <td>{entry.action}</td>
            <td>
              <Badge value={entry.status} />
            </td>
            <td>{entry.actor}</td>
            <td class="num">{entry.durationMs ?? '—'}</td>
            <td>{entry.error ?? ''}</td>
          </tr>
        ))}
      </tbody>
    </Table>
  </section>
);

/** Renders the company page, with an action's error when there was one. */
export async function companyPage(
  c: Context<ConsoleEnv>,
  ctx: SiloContext,
  slug: string,
  outcome: { error?: string; status?: ContentfulStatusCode } = {},
) {
  const company = await getCompany(ctx, slug);
  const servable = isServable(company);
  const [servers, logs, stats, test, backups] = await Promise.all([
    listServers(ctx),
    companyLogs(ctx, company.id, 20),
    servable
      ? companyStats(ctx, company.id).then(
          (s) => ({ s }),
          async (error: unknown) => ({ e: (await explain(error, c, ctx.log)).message }),
        )
      : undefined,
    c.req.query('test') === '1' ? testCompanyDatabase(ctx, company.id) : undefined,
    company.status === 'deleted' ? undefined : listBackups(ctx, company.id, { limit: 20 }),
  ]);
  return c.html(
    <Page
      title={company.name}
      section="companies"
      adminEmail={c.get('adminEmail')}
      notice={noticeFor(c.req.query('done'))}
      error={outcome.error}
    >
      <p>
        <a href="/console/companies">All companies</a>
      </p>
      <section class="panel" aria-labelledby="details-heading">
        <h2 id="details-heading">Details</h2>
        <Details company={company} servers={servers} />
      </section>
      {stats && <StatsSection stats={'s' in stats ? stats.s : undefined} error={'e' in stats ? stats.e : undefined} />}
      {servable && <DatabaseTest slug={company.slug} test={test} />}
      <CompanyActions company={company} servers={servers} />
      {backups && <BackupsSection company={company} backups={backups.items} />}
      <AuditLog logs={logs} />
    </Page>,
    outcome.status ?? 200,
  );
}

export function registerCompanyPage(web: Web, ctx: SiloContext) {
  web.get('/companies/:slug', (c) => companyPage(c, ctx, c.req.param('slug')));
}
