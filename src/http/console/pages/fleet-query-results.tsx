// The fleet query's results page, streamed: the page up to an open table is sent at once, then each
// company's rows as its line comes out of fleetQuery (the browser shows them as they arrive, no
// script needed), then the summary and the rest of the page. One table, `company` first; a header
// row is written when the columns first appear (and again if a company's differ). A company that
// failed or was skipped is a row saying why, in the database's words for an SQL error.
import { Readable } from 'node:stream';
import type { Context } from 'hono';
import { raw } from 'hono/html';
import type { Child } from 'hono/jsx';
import { describeError } from '../../../base/errors.ts';
import type { SiloContext } from '../../../context.ts';
import type { FleetLine } from '../../../operations/querying/fleet-query.ts';
import { flatCell } from '../../../operations/querying/fleet-rows.ts';
import type { ConsoleEnv } from '../env.ts';
import { Page } from '../layout.tsx';

type CompanyLine = Exclude<FleetLine, { summary: unknown }>;
type Summary = Extract<FleetLine, { summary: unknown }>['summary'];

const ROWS = '<!--fleet-rows-->';
const SUMMARY = '<!--fleet-summary-->';

const Cell = ({ value }: { value: unknown }) => {
  const flat = flatCell(value);
  return <td>{flat === null ? <span class="muted">null</span> : String(flat)}</td>;
};

const HeaderRow = ({ names }: { names: string[] }) => (
  <tr class="columns">
    <th scope="col">company</th>
    {names.map((name) => (
      <th scope="col">{name}</th>
    ))}
  </tr>
);

/** A row that says something about a company instead of its data: no rows, failed, skipped. */
const NoteRow = ({ slug, kind, width, children }: { slug: string; kind: string; width: number; children: Child }) => (
  <tr class={kind}>
    <th scope="row">{slug}</th>
    <td colspan={Math.max(1, width)}>{children}</td>
  </tr>
);

function CompanyRows({ line, width }: { line: CompanyLine; width: number }) {
  const slug = line.company.slug;
  if (!line.ok) {
    if ('skipped' in line) return <NoteRow slug={slug} kind="skipped" width={width}>{`Skipped: ${line.error.message}.`}</NoteRow>;
    const state = line.error.sqlState ? ` (SQLSTATE ${line.error.sqlState})` : '';
    return <NoteRow slug={slug} kind="failed" width={width}>{`Failed: ${line.error.message}${state}`}</NoteRow>;
  }
  if (line.rows.length === 0)
    return (
      <NoteRow slug={slug} kind="empty" width={width}>
        No rows.
      </NoteRow>
    );
  return (
    <>
      {line.rows.map((row) => (
        <tr>
          <th scope="row">{slug}</th>
          {row.map((value) => (
            <Cell value={value} />
          ))}
        </tr>
      ))}
      {line.truncated && (
        <NoteRow slug={slug} kind="empty" width={width}>
          {`Only the first ${line.rowCount} rows are shown.`}
        </NoteRow>
      )}
    </>
  );
}

const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

function SummaryLine({ summary }: { summary: Summary | undefined }) {
  if (!summary)
    return (
      <p class="error" role="alert">
        The query stopped before every company answered; the rows above are those that did.
      </p>
    );
  const { companies, succeeded, failed, skipped, ms } = summary;
  return (
    <p id="summary" class={failed > 0 ? 'error' : 'notice'} role="status">
      {`${companies} ${companies === 1 ? 'company' : 'companies'}: ${succeeded} succeeded, ${failed} failed, ${skipped} skipped, in ${seconds(ms)}.`}
    </p>
  );
}

const html = async (node: unknown) => String(await (node as { toString(): string | Promise<string> }).toString());

/** Answers the results page, its rows streamed as `lines` yields them. */
export async function streamResults(
  c: Context<ConsoleEnv>,
  ctx: SiloContext,
  started: { companies: number; lines: AsyncGenerator<FleetLine> },
  form: Child,
) {
  const shell = await html(
    <Page title="Fleet query" section="query" adminEmail={c.get('adminEmail')}>
      {form}
      <h2>Results</h2>
      <p>
        Querying {started.companies} {started.companies === 1 ? 'company' : 'companies'}; each company's rows appear as it answers.
      </p>
      <div class="table-wrap">
        <table id="results">
          <caption class="sr-only">Each company's rows, the company first</caption>
          {raw(ROWS)}
        </table>
      </div>
      {raw(SUMMARY)}
    </Page>,
  );
  const [before, between, after] = shell.split(new RegExp(`${ROWS}|${SUMMARY}`)) as [string, string, string];

  async function* page() {
    yield before;
    let columns: string | undefined;
    let width = 0;
    let summary: Summary | undefined;
    try {
      for await (const line of started.lines) {
        if ('summary' in line) {
          summary = line.summary;
          continue;
        }
        if (line.ok && line.rows.length > 0 && JSON.stringify(line.columns) !== columns) {
          columns = JSON.stringify(line.columns);
          width = line.columns.length;
          yield await html(<HeaderRow names={line.columns.map((column) => column.name)} />);
        }
        yield await html(<CompanyRows line={line} width={width} />);
      }
    } catch (error) {
      // The page is half sent: it can only say so where the summary would be.
      ctx.log.error({ error: describeError(error) }, 'fleet query from the console stopped');
    }
    yield between;
    yield await html(<SummaryLine summary={summary} />);
    yield after;
  }

  const body = Readable.from(
    (async function* () {
      for await (const part of page()) yield Buffer.from(part);
    })(),
  );
  return c.body(Readable.toWeb(body) as ReadableStream, 200, { 'Content-Type': 'text/html; charset=UTF-8' });
}
