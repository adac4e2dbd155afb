// The audit trail of operations on tenant databases (company_database_logs), and the steps of the
// sagas that write it (provisioning, a move): each step is timed, its row kept until the saga
// writes them all with its outcome, and the step running is what a failure names.
import type { SiloContext } from '../context.ts';
import { companyDatabaseLogs } from './schema.ts';

export type AuditEntry = typeof companyDatabaseLogs.$inferInsert;

type Db = Pick<SiloContext['db'], 'insert'>;

/** Writes entries in one statement; `db` may be a transaction. */
export async function recordAudit(db: Db, entries: AuditEntry[]): Promise<void> {
  if (entries.length > 0) await db.insert(companyDatabaseLogs).values(entries);
}

/** Runs one step of a saga: what provider and database code is handed, to run its steps through. */
export type StepRunner<Step extends string> = <T>(step: Step, run: () => Promise<T>) => Promise<T>;

export interface SagaOptions<Step extends string> {
  /** Written on every step's row; `action` is `<action>.<step>`. */
  companyId: string;
  serverId: string | null;
  actor: string;
  action: string;
  first: Step;
  /** Called as each step starts (the tests' hooks that make a step fail). */
  beforeStep?: ((step: Step) => void | Promise<void>) | undefined;
  /** Called as each timed step starts, before beforeStep: throws when the saga may not go on. */
  check?: () => void;
}

/** The steps of one saga run: the step running now, and an audit row for each step that ended well. */
export class SagaSteps<Step extends string> {
  readonly audit: AuditEntry[] = [];
  private step: Step;

  constructor(private readonly options: SagaOptions<Step>) {
    this.step = options.first;
  }

  /** The step running, or the last one started: where a failure happened. */
  get current(): Step {
    return this.step;
  }

  /** Runs a step, timed and recorded when it ends well. */
  readonly run: StepRunner<Step> = async (step, run) => {
    this.step = step;
    this.options.check?.();
    await this.options.beforeStep?.(step);
    const started = performance.now();
    const result = await run();
    this.record(step, started);
    return result;
  };

  /** Starts a step that the saga times and records itself (one that ends in its own transaction). */
  async enter(step: Step): Promise<void> {
    this.step = step;
    await this.options.beforeStep?.(step);
  }

  /** The row of a step that ended well, timed from `started` (performance.now()). */
  record(step: Step, started: number): void {
    const { companyId, serverId, actor, action } = this.options;
    this.audit.push({
      companyId,
      serverId,
      action: `${action}.${step}`,
      status: 'ok',
      actor,
      durationMs: Math.round(performance.now() - started),
    });
  }
}
