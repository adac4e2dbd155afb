// GET /console/fleet/query: one read-only SQL statement over many companies, as POST /api/fleet/query
// runs it (the same fleetQuery operation: each company's own role, read-only, its own timeout,
// bounded concurrency per server). Running it answers a page whose results stream in as each
// company finishes (fleet-query-results.tsx); "Download as CSV" runs it and answers one CSV file
// with a `company` column first, as `silo fleet query --csv` prints it.
import type { Context } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import type { SiloContext } from '../../../context.ts';
import { DEFAULT_FLEET_CONCURRENCY, type FleetQueryInput, fleetQuery } from '../../../operations/querying/fleet-query.ts';
import { type FleetSuccess, fleetCsv } from '../../../operations/querying/fleet-rows.ts';
import { FleetQueryBody } from '../../routes/system-admin/fleet-query.ts';
import type { ConsoleEnv, Web } from '../env.ts';
import { explain } from '../errors.tsx';
import { filled, parseOrRefuse } from '../forms.ts';
import { Page } from '../layout.tsx';
import { streamResults } from './fleet-query-results.tsx';

const EXAMPLE = 'select count(*) as documents, max(created_at) as last_document from documents';

export function QueryForm({ ctx, given }: { ctx: SiloContext; given: Record<string, string> }) {
  const limits = ctx.config.sql;
  return (
    <form class="stack wide" method="post" action="/console/fleet/query">
      <label>
        SQL <span class="hint">one read-only statement, run on each company's database as the company's own role</span>
        <textarea name="sql" rows={5} required spellcheck={false} placeholder={EXAMPLE}>
          {given.sql ?? ''}
        </textarea>
      </label>
      <div class="fields">
        <label>
          Only these companies <span class="hint">slugs, separated by commas or spaces; empty: all</span>
          <input name="only" autocomplete="off" value={given.only ?? ''} />
        </label>
        <label>
          All but these companies <span class="hint">slugs</span>
          <input name="exclude" autocomplete="off" value={given.exclude ?? ''} />
        </label>
      </div>
      <div class="fields">
        <label>
          Companies at once
          <input name="concurrency" type="number" min={1} max={256} value={given.concurrency ?? String(DEFAULT_FLEET_CONCURRENCY)} />
        </label>
        <label>
          Timeout per company (ms) <span class="hint">at most {limits.statementTimeoutMs}</span>
          <input name="timeoutMs" type="number" min={1} max={limits.statementTimeoutMs} value={given.timeoutMs ?? ''} />
        </label>
        <label>
          Rows per company <span class="hint">at most {limits.maxRows}</span>
          <input name="maxRows" type="number" min={1} max={limits.maxRows} value={given.maxRows ?? ''} />
        </label>
      </div>
      <div class="actions">
        <button type="submit">Run the query</button>
        <button type="submit" class="secondary" formaction="/console/fleet/query/csv">
          Download as CSV
        </button>
      </div>
    </form>
  );
}

/** The form's fields as the API's request body, checked by the API's own schema. */
function queryInput(form: Record<string, string>): FleetQueryInput {
  const slugs = (value: string | undefined) => value?.split(/[\s,]+/).filter((slug) => slug !== '');
  const number = (value: string | undefined) => (value === undefined ? undefined : Number(value));
  return parseOrRefuse(FleetQueryBody, {
    sql: form.sql,
    only: slugs(form.only),
    exclude: slugs(form.exclude),
    concurrency: number(form.concurrency),
    timeoutMs: number(form.timeoutMs),
    maxRows: number(form.maxRows),
  });
}

function formPage(
  c: Context<ConsoleEnv>,
  ctx: SiloContext,
  outcome: { given?: Record<string, string>; error?: string; status?: ContentfulStatusCode } = {},
) {
  return c.html(
    <Page title="Fleet query" section="query" adminEmail={c.get('adminEmail')} error={outcome.error}>
      <p>
        Suspended, archived and moving companies are skipped and listed as such; one company's error or timeout is its own row and never
        stops the others.
      </p>
      <QueryForm ctx={ctx} given={outcome.given ?? {}} />
    </Page>,
    outcome.status ?? 200,
  );
}

/** A refused form (a field, an unknown company) is the form again, with the reason and what was typed. */
async function refused(c: Context<ConsoleEnv>, ctx: SiloContext, given: Record<string, string>, error: unknown) {
  const { status, message } = await explain(error, c, ctx.log);
  return formPage(c, ctx, { given, error: message, status });
}

/** "fleet-query-2026-12-02T16-05-09Z.csv" */
const csvName = (at: Date) => `fleet-query-${at.toISOString().slice(0, 19).replaceAll(':', '-')}Z.csv`;

export function registerFleetQueryPages(web: Web, ctx: SiloContext) {
  web.get('/fleet/query', (c) => formPage(c, ctx));

  web.post('/fleet/query', async (c) => {
    const given = filled(await c.req.parseBody());
    let started: Awaited<ReturnType<typeof fleetQuery>>;
    try {
      // Bad fields and unknown companies are refused here, before the results page starts.
      started = await fleetQuery(ctx, queryInput(given));
    } catch (error) {
      return refused(c, ctx, given, error);
    }
    return streamResults(c, ctx, started, <QueryForm ctx={ctx} given={given} />);
  });

  web.post('/fleet/query/csv', async (c) => {
    const given = filled(await c.req.parseBody());
    const succeeded: FleetSuccess[] = [];
    try {
      const { lines } = await fleetQuery(ctx, queryInput(given));
      for await (const line of lines) if ('ok' in line && line.ok) succeeded.push(line);
    } catch (error) {
      return refused(c, ctx, given, error);
    }
    return c.body(fleetCsv(succeeded), 200, {
      'Content-Type': 'text/csv; charset=utf-8',
      'Content-Disposition': `attachment; filename="${csvName(new Date())}"`,
    });
  });
}
