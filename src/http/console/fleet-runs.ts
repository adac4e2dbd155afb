// Fleet migration runs started from the console, kept in this instance's memory while they run and
// a little after, so that their page can show progress. Each company's result is also recorded in
// the management database (company_migrations, by run id) as for any run; only the live view is
// per instance. One run at a time per instance: a second would only contend with the first.
import { randomUUID } from 'node:crypto';
import { conflict, describeError } from '../../base/errors.ts';
import type { SiloContext } from '../../context.ts';
import type { CompanyMigrationResult } from '../../operations/migrations/company-migrations.ts';
import { type FleetRun, migrateFleet } from '../../operations/migrations/fleet.ts';

export interface RunSettings {
  concurrency: number;
  canary?: number | undefined;
  maxFailures?: number | undefined;
  /** Only these companies (a re-run of the failed ones). */
  only?: string[] | undefined;
}

export interface ConsoleRun {
  id: string;
  settings: RunSettings;
  startedAt: Date;
  finishedAt?: Date;
  total: number | null;
  results: CompanyMigrationResult[];
  /** Set when the run has finished. */
  outcome?: FleetRun;
  /** Set when the run could not run at all. */
  error?: string;
}

const KEPT = 20;

export class FleetRuns {
  readonly #runs = new Map<string, ConsoleRun>();

  constructor(private readonly ctx: SiloContext) {}

  get(id: string): ConsoleRun | undefined {
    return this.#runs.get(id);
  }

  /** Newest first. */
  list(): ConsoleRun[] {
    return [...this.#runs.values()].reverse();
  }

  start(settings: RunSettings, actor: string): ConsoleRun {
    if (this.list().some((r) => !r.finishedAt)) throw conflict('a fleet migration started here is still running; wait for it to finish');
    const run: ConsoleRun = { id: randomUUID(), settings, startedAt: new Date(), total: null, results: [] };
    this.#runs.set(run.id, run);
    for (const old of [...this.#runs.keys()].slice(0, Math.max(0, this.#runs.size - KEPT))) this.#runs.delete(old);
    migrateFleet(this.ctx, {
      ...settings,
      actor,
      onResult: (result, progress) => {
        run.results.push(result);
        run.total = progress.total;
      },
    })
      .then((outcome) => {
        run.outcome = outcome;
        run.total = outcome.total;
      })
      .catch((error: unknown) => {
        run.error = describeError(error);
        this.ctx.log.warn({ error: run.error }, 'fleet migration from the console failed');
      })
      .finally(() => {
        run.finishedAt = new Date();
      });
    return run;
  }
}
