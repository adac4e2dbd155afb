// GET /console/companies: the companies, newest first, with search, a status filter and pages; as
// the operator types, htmx replaces the results in place (and the address, so it can be shared).
// Users and size come from each company's own database, so each row loads them after the page.
import { z } from 'zod';
import type { SiloContext } from '../../../context.ts';
import { listServers } from '../../../control-plane/server-records.ts';
import { companyStatuses, type CompanyRow } from '../../../control-plane/schema.ts';
import { companyStats, listCompanies } from '../../../operations/companies.ts';
import type { Web } from '../env.ts';
import { parseOrRefuse } from '../forms.ts';
import { Page } from '../layout.tsx';
import { noticeFor } from '../notices.ts';
import { Badge, formatBytes, formatTime, Table } from '../parts.tsx';

const PAGE_SIZE = 20;

const ListQuery = z.object({
  q: z.string().trim().max(200).optional(),
  status: z.enum(companyStatuses).or(z.literal('')).optional(),
  cursor: z.string().max(500).optional(),
});

function Filters({ q, status }: { q: string; status: string }) {
  return (
    <form
      class="inline"
      method="get"
      action="/console/companies"
      aria-label="Find companies"
      hx-get="/console/companies"
      hx-trigger="input delay:300ms, submit"
      hx-target="#company-results"
      hx-select="#company-results"
      hx-swap="outerHTML"
      hx-push-url="true"
    >
      <label>
        Search by name or slug
        <input name="q" type="search" value={q} />
      </label>
      <label>
        Status
        <select name="status">
          <option value="">all but deleted</option>
          {companyStatuses.map((s) => (
            <option value={s} selected={s === status}>
              {s}
            </option>
          ))}
        </select>
      </label>
      <button type="submit" class="secondary">
        Search
      </button>
    </form>
  );
}

function Row({ company, serverName }: { company: CompanyRow; serverName: string }) {
  return (
    <tr>
      <td>
        <a href={`/console/companies/${company.slug}`}>{company.slug}</a>
      </td>
      <td>{company.name}</td>
      <td>
        <Badge value={company.status} />
      </td>
      <td>{serverName}</td>
      <td>
        <code>{company.schemaVersion ?? '—'}</code>
      </td>
      <td class="num" colspan={2} hx-get={`/console/companies/${company.slug}/figures`} hx-trigger="load" hx-swap="outerHTML">
        …
      </td>
      <td>{formatTime(company.createdAt)}</td>
    </tr>
  );
}

export function registerCompaniesPage(web: Web, ctx: SiloContext) {
  web.get('/companies', async (c) => {
    const query = parseOrRefuse(ListQuery, c.req.query());
    const q = query.q ?? '';
    const status = query.status ?? '';
    const [page, servers] = await Promise.all([
      listCompanies(ctx, { q: q || undefined, status: status || undefined, cursor: query.cursor, limit: PAGE_SIZE }),
      listServers(ctx),
    ]);
    const names = new Map(servers.map((s) => [s.id, s.name]));
    const filter = new URLSearchParams({ ...(q ? { q } : {}), ...(status ? { status } : {}) });
    const next = page.nextCursor ? `/console/companies?${new URLSearchParams([...filter, ['cursor', page.nextCursor]])}` : undefined;
    return c.html(
      <Page title="Companies" section="companies" adminEmail={c.get('adminEmail')} notice={noticeFor(c.req.query('done'))}>
        <p>
          <a href="/console/companies/new">Create a company</a>
        </p>
        <Filters q={q} status={status} />
        <div id="company-results" aria-live="polite">
          <Table caption="Companies">
            <thead>
              <tr>
                <th>Slug</th>
                <th>Name</th>
                <th>Status</th>
                <th>Server</th>
                <th>Schema</th>
                <th class="num">Users</th>
                <th class="num">Size</th>
                <th>Created</th>
              </tr>
            </thead>
            <tbody>
              {page.items.map((company) => (
                <Row company={company} serverName={company.serverId ? (names.get(company.serverId) ?? '—') : '—'} />
              ))}
            </tbody>
          </Table>
          {page.items.length === 0 && <p>No company matches.</p>}
          <nav class="pager" aria-label="Pages">
            {query.cursor && <a href={`/console/companies?${filter}`}>First page</a>}
            {next && <a href={next}>Next page</a>}
          </nav>
        </div>
      </Page>,
    );
  });

  // Two cells of a row: the company's users and its database's size, or dashes when it has no
  // database to ask (archived, deleted) or it cannot be reached now.
  web.get('/companies/:slug/figures', async (c) => {
    const figures = await companyStats(ctx, c.req.param('slug')).catch(() => undefined);
    return c.html(
      <>
        <td class="num">{figures ? figures.users : '—'}</td>
        <td class="num">{figures ? formatBytes(figures.databaseSizeBytes) : '—'}</td>
      </>,
    );
  });
}
