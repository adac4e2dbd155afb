// GET /console/migrations: tenant schema versions across the fleet, the plan (what each company
// behind would get), and a form to apply it with a canary batch and a failure budget. A run's page
// shows its progress live (htmx asks for it every second until it ends), its failures with their
// errors, and re-runs it: all of it, or only the companies that failed.
import { z } from 'zod';
import type { SiloContext } from '../../../context.ts';
import { fleetStatus, plannedMigrations, selectFleet } from '../../../operations/migrations/fleet.ts';
import { consoleActor, type Web } from '../env.ts';
import { filled, parseOrRefuse } from '../forms.ts';
import { type ConsoleRun, FleetRuns, type RunSettings } from '../fleet-runs.ts';
import { Page } from '../layout.tsx';
import { Badge, Bar, formatTime, Table } from '../parts.tsx';

const RunForm = z.object({
  concurrency: z.coerce.number().int().min(1).max(256).default(4),
  canary: z.coerce.number().int().min(1).max(100_000).optional(),
  maxFailures: z.coerce.number().int().min(1).max(1_000_000).optional(),
  only: z.string().max(100_000).optional(),
});

/** The settings as hidden fields: "run again" posts what this run was started with. */
const SettingsFields = ({ settings, only }: { settings: RunSettings; only?: string[] | undefined }) => (
  <>
    <input type="hidden" name="concurrency" value={String(settings.concurrency)} />
    {settings.canary && <input type="hidden" name="canary" value={String(settings.canary)} />}
    {settings.maxFailures && <input type="hidden" name="maxFailures" value={String(settings.maxFailures)} />}
    {only && <input type="hidden" name="only" value={only.join(',')} />}
  </>
);

function ApplyForm({ behind, failed }: { behind: number; failed: string[] }) {
  return (
    <form class="stack" method="post" action="/console/migrations/runs">
      <label>
        Companies at once
        <input name="concurrency" type="number" min={1} max={256} value="4" required />
      </label>
      <label>
        Canary <span class="hint">migrate this many first; stop if any of them fails</span>
        <input name="canary" type="number" min={1} max={100000} value="1" />
      </label>
      <label>
        Failure budget <span class="hint">stop scheduling after this many failures; empty: no limit</span>
        <input name="maxFailures" type="number" min={1} max={1000000} />
      </label>
      <label class="check">
        <input name="only" type="checkbox" value={failed.join(',')} disabled={failed.length === 0} />
        Only the {failed.length} {failed.length === 1 ? 'company' : 'companies'} whose last migration failed
      </label>
      <button type="submit">Apply to the fleet ({behind} behind)</button>
    </form>
  );
}

function RunView({ run }: { run: ConsoleRun }) {
  const failed = run.results.filter((r) => r.status === 'failed');
  const count = (status: string) => run.results.filter((r) => r.status === status).length;
  const poll = run.finishedAt
    ? {}
    : { 'hx-get': `/console/migrations/runs/${run.id}`, 'hx-trigger': 'every 1s', 'hx-select': '#run', 'hx-swap': 'outerHTML' };
  const outcome = run.outcome;
  return (
    <div id="run" aria-live="polite" {...poll}>
      <p>
        <Badge
          value={run.finishedAt ? (failed.length > 0 || run.error || outcome?.notAttempted.length ? 'failed' : 'completed') : 'running'}
        />{' '}
        Started {formatTime(run.startedAt)}
        {run.finishedAt && `, finished ${formatTime(run.finishedAt)}`}.
      </p>
      <Bar used={run.results.length} of={run.total ?? 0} label="Companies done" />
      <ul class="cards">
        <li>
          <span class="figure">{count('migrated')}</span> migrated
        </li>
        <li>
          <span class="figure">{count('current')}</span> already current
        </li>
        <li>
          <span class="figure">{failed.length}</span> failed
        </li>
        <li>
          <span class="figure">{outcome ? outcome.notAttempted.length : '…'}</span> not attempted
        </li>
      </ul>
      {run.error && <p class="error">The run could not go on: {run.error}</p>}
      {outcome?.stoppedBecause && <p class="error">Stopped early: {outcome.stoppedBecause.replace('_', ' ')}.</p>}
      {failed.length > 0 && (
        <Table caption="Companies that failed">
          <thead>
            <tr>
              <th>Company</th>
              <th>Migration</th>
              <th>Error</th>
            </tr>
          </thead>
          <tbody>
            {failed.map((f) => (
              <tr>
                <td>
                  <a href={`/console/companies/${f.slug}`}>{f.slug}</a>
                </td>
                <td>
                  <code>{f.failedMigration ?? '(connecting)'}</code>
                </td>
                <td>{f.error}</td>
              </tr>
            ))}
          </tbody>
        </Table>
      )}
      {run.finishedAt && (
        <div class="actions">
          <form method="post" action="/console/migrations/runs">
            <SettingsFields settings={run.settings} only={run.settings.only} />
            <button type="submit" class="secondary">
              Run again
            </button>
          </form>
          {failed.length > 0 && (
            <form method="post" action="/console/migrations/runs">
              <SettingsFields settings={run.settings} only={failed.map((f) => f.slug)} />
              <button type="submit">Re-run the {failed.length} failed</button>
            </form>
          )}
        </div>
      )}
    </div>
  );
}

export function registerMigrationPages(web: Web, ctx: SiloContext) {
  const runs = new FleetRuns(ctx);

  web.get('/migrations', async (c) => {
    const [status, fleet] = await Promise.all([fleetStatus(ctx), selectFleet(ctx, {})]);
    const plan = fleet.map((company) => ({ company, pending: plannedMigrations(ctx, company) })).filter((p) => p.pending.length > 0);
    return c.html(
      <Page title="Migrations" section="migrations" adminEmail={c.get('adminEmail')}>
        <p>
          Latest tenant schema: <code>{status.latest ?? '(none)'}</code>. {status.behind} of {fleet.length} companies behind;{' '}
          {status.failed.length} last failed.
        </p>
        <h2>Plan</h2>
        {plan.length === 0 ? (
          <p>Every company is on the latest schema.</p>
        ) : (
          <Table caption="Migrations each company behind would get">
            <thead>
              <tr>
                <th>Company</th>
                <th>On version</th>
                <th>Pending</th>
                <th>Last error</th>
              </tr>
            </thead>
            <tbody>
              {plan.map(({ company, pending }) => (
                <tr>
                  <td>
                    <a href={`/console/companies/${company.slug}`}>{company.slug}</a>
                  </td>
                  <td>
                    <code>{company.schemaVersion ?? '(none)'}</code>
                  </td>
                  <td>{pending.join(', ')}</td>
                  <td>{company.migrationError ?? ''}</td>
                </tr>
              ))}
            </tbody>
          </Table>
        )}
        <h2>Apply</h2>
        <ApplyForm behind={status.behind} failed={status.failed.map((f) => f.slug)} />
        <h2>Runs started here</h2>
        {runs.list().length === 0 ? (
          <p>None since this instance started.</p>
        ) : (
          <ul>
            {runs.list().map((run) => (
              <li>
                <a href={`/console/migrations/runs/${run.id}`}>{formatTime(run.startedAt)}</a>: {run.results.length} of {run.total ?? '…'}{' '}
                done
                {run.finishedAt ? '' : ' (running)'}
              </li>
            ))}
          </ul>
        )}
      </Page>,
    );
  });

  web.post('/migrations/runs', async (c) => {
    const form = parseOrRefuse(RunForm, filled(await c.req.parseBody()));
    const only = form.only?.split(',').filter((slug) => slug !== '');
    const run = runs.start(
      { concurrency: form.concurrency, canary: form.canary, maxFailures: form.maxFailures, only: only?.length ? only : undefined },
      consoleActor(c.get('auth')),
    );
    return c.redirect(`/console/migrations/runs/${run.id}`, 303);
  });

  web.get('/migrations/runs/:id', (c) => {
    const run = runs.get(c.req.param('id'));
    return c.html(
      <Page title="Fleet migration" section="migrations" adminEmail={c.get('adminEmail')}>
        <p>
          <a href="/console/migrations">Back to migrations</a>
        </p>
        {run ? (
          <RunView run={run} />
        ) : (
          <p class="error">This instance has no such run: runs are shown by the instance that started them.</p>
        )}
      </Page>,
      run ? 200 : 404,
    );
  });
}
