// Moving a company's database to another server: a saga that either ends with the company served
// from the target (data copied, verified, the registry switched, the old database dropped) or
// undoes what it did on the target and leaves the company served from its old database, intact.
// Its parts, in order: move-prepare.ts (checks and the claim), target-database.ts (the empty
// twin), move-copy.ts (lock, copy, verify), move-switch.ts, move-finish.ts (drop the old database,
// or undo). The steps, the write hold and the measured cost: docs/scale-out.md.
import { generatePassword } from '../../base/auth/passwords.ts';
import { sealedAt } from '../../base/crypto/credentials.ts';
import { describeError, SiloError } from '../../base/errors.ts';
import type { TenantNames } from '../../base/names.ts';
import type { MoveStep, SiloContext } from '../../context.ts';
import { recordAudit, SagaSteps } from '../../control-plane/audit.ts';
import type { CompanyRow } from '../../control-plane/schema.ts';
import { MoveLease } from './move-claim.ts';
import { type CopySide, copyTables, lockSource, type MovedTable, openForCopy, verifyCopy } from './move-copy.ts';
import { dropOldDatabase, undoMove } from './move-finish.ts';
import { type PreparedMove, prepareMove } from './move-prepare.ts';
import { switchToTarget } from './move-switch.ts';
import type { TableShape } from './table-copy.ts';
import { createTargetDatabase } from './target-database.ts';

export interface MoveResult {
  companyId: string;
  slug: string;
  fromServerId: string;
  toServerId: string;
  via: 'template' | 'migrations';
  tables: MovedTable[];
  rows: number;
  bytes: number;
  durationMs: number;
  /** The copy step: every table streamed into the new database, its sequences, the commit. */
  copyMs: number;
  /** From the write hold to the switch. */
  writesHeldMs: number;
  /** False when the old database could not be dropped: `silo reconcile` drops it later. */
  oldDatabaseDropped: boolean;
}

/** Moves a company to the server `to` and answers the company, served from there. */
export async function moveCompany(ctx: SiloContext, idOrSlug: string, to: string, actor: string) {
  return runMove(ctx, await prepareMove(ctx, idOrSlug, to, actor), actor);
}

export async function runMove(ctx: SiloContext, prepared: PreparedMove, actor: string): Promise<{ company: CompanyRow; move: MoveResult }> {
  const { company, claim } = prepared;
  const { from, to } = claim;
  const names: TenantNames = { database: company.databaseName!, role: company.roleName! };
  const lease = new MoveLease(ctx, claim);
  lease.start();
  const started = performance.now();
  const steps = new SagaSteps<MoveStep>({
    companyId: company.id,
    serverId: to,
    actor,
    action: 'move',
    first: 'role',
    beforeStep: (name) => ctx.beforeMoveStep?.(name),
    check: () => lease.check(),
  });
  const { audit, run: step } = steps;

  const password = generatePassword(24);
  let source: CopySide | undefined;
  let target: CopySide | undefined;
  let heldAt = 0;
  let copyMs = 0;
  let tables: MovedTable[] = [];
  let switched: CompanyRow;
  let via: MoveResult['via'];
  try {
    ({ via } = await createTargetDatabase(ctx, to, names, password, step));

    await step('hold', async () => {
      await lease.holdWrites();
      heldAt = performance.now();
    });

    // The hold above makes every instance answer 503 to writes; this lock makes the old database
    // itself refuse them (a write waits) until it is dropped or the move gives up. Reads go on.
    let shapes: TableShape[] = [];
    await step('lock', async () => {
      source = await openForCopy(ctx, from, names, ctx.box.open(company.credentialsEncrypted!, sealedAt.companyCredentials(company.id)));
      shapes = await lockSource(source.sql);
    });

    await step('copy', async () => {
      const copyStarted = performance.now();
      target = await openForCopy(ctx, to, names, password);
      tables = await copyTables(ctx, lease, source!, target, shapes);
      copyMs = performance.now() - copyStarted;
    });

    await step('verify', () => verifyCopy(source!, target!, shapes, tables));

    await steps.enter('switch');
    await lease.stop();
    // The lock must still hold when the registry switches, and the target have all the data.
    source!.assertOpen();
    target!.assertOpen();
    switched = await switchToTarget(ctx, { company, claim, names, password, steps });
  } catch (error) {
    throw await undoMove(ctx, { company, lease, source, target, audit, step: steps.current, error, actor, started });
  }
  // Switched: every instance now reaches the company on the target.
  await ctx.tenants.companyChanged(company.id);
  const writesHeldMs = Math.round(performance.now() - heldAt);
  const oldDatabaseDropped = await dropOldDatabase(ctx, company, from, names, source, actor);
  await target?.end();

  const move: MoveResult = {
    companyId: company.id,
    slug: company.slug,
    fromServerId: from,
    toServerId: to,
    via: via!,
    tables,
    rows: tables.reduce((n, t) => n + t.rows, 0),
    bytes: tables.reduce((n, t) => n + t.bytes, 0),
    durationMs: Math.round(performance.now() - started),
    copyMs: Math.round(copyMs),
    writesHeldMs,
    oldDatabaseDropped,
  };
  await recordAudit(ctx.db, [
    {
      companyId: company.id,
      serverId: to,
      action: 'moved',
      status: 'ok',
      actor,
      durationMs: move.durationMs,
      details: { from, to, via: move.via, rows: move.rows, bytes: move.bytes, writesHeldMs, oldDatabaseDropped },
    },
  ]);
  ctx.log.info({ companyId: company.id, slug: company.slug, from, to, rows: move.rows, bytes: move.bytes, writesHeldMs }, 'company moved');
  return { company: switched!, move };
}

/** A failed move's message with its reason (kept in the error's details), for operators. */
export function describeMoveFailure(error: unknown): string {
  const reason = error instanceof SiloError ? (error.details as { error?: unknown } | undefined)?.error : undefined;
  return typeof reason === 'string' ? `${describeError(error)}: ${reason}` : describeError(error);
}
