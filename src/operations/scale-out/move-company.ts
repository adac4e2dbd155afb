// Moving a company's database to another server: a saga that either ends with the company served
// from the target (data copied, verified, the registry switched, the old database dropped) or
// undoes what it did on the target and leaves the company served from its old database, intact.
// The steps, the write hold and the measured cost: docs/scale-out.md.
import { and, eq, sql as dsql } from 'drizzle-orm';
import type { Sql } from 'postgres';
import { generatePassword } from '../../base/auth/passwords.ts';
import type { MoveStep, SiloContext } from '../../context.ts';
import { companies, databaseLeftovers, databaseServers, type CompanyRow } from '../../control-plane/schema.ts';
import { conflict, describeError, isConnectionError, SiloError, unavailable } from '../../base/errors.ts';
import { migrateCompanyOnRequest } from '../migrations/company-migrations.ts';
import { quoteIdent, type TenantNames } from '../../base/names.ts';
import { dropTenantDatabase } from '../provisioning/tenant-database.ts';
import { type AuditEntry, recordAudit, SagaSteps } from '../../control-plane/audit.ts';
import { getCompany, isServable, servableCompanies } from '../../control-plane/company-records.ts';
import { openLeftovers, removeLeftover } from './leftovers.ts';
import { claimMove, MoveLease, refuseTarget, type MoveClaim } from './move-claim.ts';
import { COPY_SESSION, copyTable, fingerprint, readSequences, readTables, setSequences, type TableShape } from './table-copy.ts';
import { createTargetDatabase } from './target-database.ts';
import { sealedAt } from '../../base/crypto/credentials.ts';
import { inTransaction } from '../../base/db/transaction.ts';

export interface MovedTable {
  name: string;
  rows: number;
  /** COPY text carried for it. */
  bytes: number;
}

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

export interface PreparedMove {
  company: CompanyRow;
  claim: MoveClaim;
}

/** How long the lock on the old database may wait for writes that are running there. */
const LOCK_TIMEOUT = '10s';
/** How long the locked session may sit idle inside its transaction before the server ends it. */
const STALLED_MOVE_TIMEOUT = '60s';

/**
 * Checks that the company can move to the server and claims it. A company behind the latest tenant
 * schema is migrated first (its next request would do the same), so that the target can be cloned
 * from its template. Removes what an earlier failed move of it left on that server.
 */
export async function prepareMove(ctx: SiloContext, idOrSlug: string, to: string, actor: string): Promise<PreparedMove> {
  let company = await getCompany(ctx, idOrSlug);
  if (!isServable(company)) {
    throw conflict(`a ${company.status} company has no database to move`);
  }
  if (company.provider !== 'postgres') {
    throw conflict(
      `Silo moves databases between postgres servers; this company's database is ${company.provider === 'neon' ? 'a Neon project' : 'an external one'} and stays where it is`,
    );
  }
  if (!company.serverId || !company.databaseName || !company.roleName || !company.credentialsEncrypted) {
    throw conflict('the company has no database to move');
  }
  const [server] = await ctx.db.select().from(databaseServers).where(eq(databaseServers.id, to));
  refuseTarget(company, server);
  if (company.schemaVersion !== ctx.tenantMigrations.latest) {
    const migrated = await migrateCompanyOnRequest(ctx, company, { actor });
    if (migrated.status === 'failed') {
      throw conflict(`the company must be on the latest tenant schema to move; migrating it failed at ${migrated.failedMigration}`, {
        error: migrated.error,
      });
    }
    company = await getCompany(ctx, company.id);
    if (company.schemaVersion !== ctx.tenantMigrations.latest) {
      throw conflict(`the company is on schema ${company.schemaVersion}, not the latest this Silo knows (${ctx.tenantMigrations.latest})`);
    }
  }
  for (const leftover of await openLeftovers(ctx, { companyId: company.id, serverId: to })) {
    try {
      await removeLeftover(ctx, leftover);
    } catch (error) {
      if (isConnectionError(error)) throw unavailable('the target database server cannot be reached');
      throw conflict('the target still holds a database left by an earlier move of this company; see "silo reconcile"', {
        error: describeError(error),
      });
    }
  }
  return { company, claim: await claimMove(ctx, company, to) };
}

/** Moves a company to the server `to` and answers the company, served from there. */
export async function moveCompany(ctx: SiloContext, idOrSlug: string, to: string, actor: string) {
  return runMove(ctx, await prepareMove(ctx, idOrSlug, to, actor), actor);
}

/**
 * One side of the copy: a one-connection client (`max: 1`) whose session holds the move's
 * transaction (and, on the old database, its lock), with every value printed alike on both sides.
 * A connection that closes takes its transaction with it, and postgres.js would open a new one
 * without a word: `assertOpen()` refuses to go on once that has happened.
 */
interface CopySide {
  sql: Sql;
  /** Its backend, for the server's admin to end when the client cannot (see undoMove). */
  pid: number;
  assertOpen(): void;
  end(): Promise<void>;
}

async function openForCopy(ctx: SiloContext, serverId: string, names: TenantNames, password: string): Promise<CopySide> {
  let closed = false;
  const sql = await ctx.servers.open(
    serverId,
    names.database,
    { user: names.role, password },
    {
      connection: { ...COPY_SESSION, application_name: 'silo-move' },
      idle_timeout: 0,
      max_lifetime: 0,
      onclose: () => {
        closed = true;
      },
    },
  );
  const [session] = await sql<{ pid: number }[]>`select pg_backend_pid() as pid`;
  return {
    sql,
    pid: session!.pid,
    assertOpen() {
      if (closed) throw Object.assign(new Error('a connection of the move was closed'), { code: 'CONNECTION_CLOSED' });
    },
    end: () => sql.end({ timeout: 1 }).catch(() => {}),
  };
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
  const tables: MovedTable[] = [];
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
      const on = source.sql;
      shapes = await readTables(on);
      await on.unsafe('begin isolation level repeatable read');
      await on.unsafe(`set local lock_timeout = '${LOCK_TIMEOUT}'`);
      // A mover that hangs without dying must not hold the lock for ever: the server ends it.
      await on.unsafe(`set local idle_in_transaction_session_timeout = '${STALLED_MOVE_TIMEOUT}'`);
      if (shapes.length > 0) await on`lock table ${on(shapes.map((s) => s.name))} in share mode`;
    });

    await step('copy', async () => {
      const copyStarted = performance.now();
      target = await openForCopy(ctx, to, names, password);
      const [origin, into] = [source!, target.sql];
      await into.unsafe('begin');
      assertSameShapes(shapes, await readTables(into));
      // A template or a migration may have put rows in the new database: only the copy's count.
      if (shapes.length > 0) await into`truncate ${into(shapes.map((s) => s.name))}`;
      for (const shape of shapes) {
        await ctx.beforeMoveStep?.('copy', { table: shape.name });
        lease.check();
        origin.assertOpen();
        target.assertOpen();
        tables.push({ name: shape.name, rows: 0, bytes: await copyTable(origin.sql, into, shape) });
      }
      await setSequences(into, await readSequences(origin.sql));
      target.assertOpen();
      await into.unsafe('commit');
      copyMs = performance.now() - copyStarted;
    });

    await step('verify', async () => {
      for (const [i, shape] of shapes.entries()) {
        const [old, copied] = await Promise.all([fingerprint(source!.sql, shape), fingerprint(target!.sql, shape)]);
        if (old.rows !== copied.rows || old.checksum !== copied.checksum) {
          throw new SiloError('internal', `the copy of table ${shape.name} does not match the original`, {
            table: shape.name,
            rows: { old: old.rows, copied: copied.rows },
            checksums: { old: old.checksum, copied: copied.checksum },
          });
        }
        tables[i]!.rows = copied.rows;
      }
    });

    await steps.enter('switch');
    await lease.stop();
    // The lock must still hold when the registry switches, and the target have all the data.
    source!.assertOpen();
    target!.assertOpen();
    const switchStarted = performance.now();
    switched = await inTransaction(ctx.db, async (tx) => {
      const [row] = await tx
        .update(companies)
        .set({
          serverId: to,
          credentialsEncrypted: ctx.box.seal(password, sealedAt.companyCredentials(company.id)),
          movingTo: null,
          moveLeaseUntil: null,
          writesHeldUntil: null,
          updatedAt: dsql`now()`,
        })
        .where(
          and(
            eq(companies.id, company.id),
            eq(companies.serverId, from),
            eq(companies.moveLeaseUntil, claim.lease),
            // Deleted, or migrated, while it was copied: the copy is not the company's database.
            servableCompanies(),
            eq(companies.schemaVersion, company.schemaVersion!),
          ),
        )
        .returning();
      if (!row) throw new Error('the company changed while it was copied (deleted or migrated), or the move lost its claim');
      // The target is the company's database now; the old one is a leftover until it is dropped.
      await tx.update(databaseLeftovers).set({ removedAt: dsql`now()` }).where(eq(databaseLeftovers.id, claim.leftoverId));
      await tx.insert(databaseLeftovers).values({ companyId: company.id, serverId: from, ...leftoverNames(names), reason: 'move_source' });
      steps.record('switch', switchStarted);
      await recordAudit(tx, audit);
      return row;
    });
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

const leftoverNames = (names: TenantNames) => ({ databaseName: names.database, roleName: names.role });

function assertSameShapes(source: TableShape[], target: TableShape[]): void {
  const describe = (shapes: TableShape[]) =>
    shapes
      .map((s) => `${s.name}(${s.columns.join(',')})`)
      .sort()
      .join(' ');
  if (describe(source) !== describe(target)) {
    throw new Error('the new database does not have the same tables and columns as the old one');
  }
}

/**
 * After the switch: the old database and role go. Nothing can undo the move any more, so a failure
 * here is logged and left for `silo reconcile` (the leftover record stays open). No write can land
 * in the old database meanwhile: its connections are refused and ended first.
 */
async function dropOldDatabase(
  ctx: SiloContext,
  company: CompanyRow,
  from: string,
  names: TenantNames,
  source: CopySide | undefined,
  actor: string,
): Promise<boolean> {
  const started = performance.now();
  let error: unknown;
  try {
    await ctx.beforeMoveStep?.('drop_old');
    const admin = await ctx.servers.admin(from);
    await admin.unsafe(`alter database ${quoteIdent(names.database)} connection limit 0`);
    // Writes waiting on the move's lock end while it still holds: ended together with it (by the
    // drop), a waiter could be granted the lock and commit before it noticed, and its client would
    // be told that a write landed which is then dropped. No new session can start meanwhile.
    await source?.sql.unsafe(
      'select pg_terminate_backend(pid, 5000) from pg_stat_activity where datname = current_database() and pid <> pg_backend_pid()',
    );
    // Ends every session left there, this move's lock included.
    await dropTenantDatabase(admin, names);
    await ctx.db
      .update(databaseLeftovers)
      .set({ removedAt: dsql`now()` })
      .where(
        and(eq(databaseLeftovers.companyId, company.id), eq(databaseLeftovers.serverId, from), eq(databaseLeftovers.reason, 'move_source')),
      );
  } catch (caught) {
    error = caught;
    // Writes that waited on the lock must not land once it is released.
    await source?.sql
      .unsafe('select pg_terminate_backend(pid) from pg_stat_activity where datname = current_database() and pid <> pg_backend_pid()')
      .catch(() => {});
    ctx.log.warn(
      { companyId: company.id, serverId: from, error: describeError(caught) },
      'moved, but the old database could not be dropped; silo reconcile drops it',
    );
  }
  await source?.end();
  await recordAudit(ctx.db, [
    {
      companyId: company.id,
      serverId: from,
      action: 'move.drop_old',
      status: error ? 'failed' : 'ok',
      actor,
      durationMs: Math.round(performance.now() - started),
      ...(error ? { error: describeError(error) } : {}),
    },
  ]).catch(() => {});
  return !error;
}

interface Undo {
  company: CompanyRow;
  lease: MoveLease;
  source: CopySide | undefined;
  target: CopySide | undefined;
  audit: AuditEntry[];
  step: MoveStep;
  error: unknown;
  actor: string;
  started: number;
}

/**
 * Before the switch: the old database stays the company's. Its lock goes first and the write hold
 * next, so writes resume at once; then what was made on the target is dropped (recorded as a
 * leftover for `silo reconcile` when the target cannot be reached). Answers the error to throw.
 */
async function undoMove(ctx: SiloContext, undo: Undo): Promise<SiloError> {
  const { company, lease, error } = undo;
  const reason = `${undo.step}: ${describeError(error)}`;
  // The old database's session goes first, and from the server's side: a COPY it was sending when
  // the move failed leaves it blocked on a client that no longer reads, its lock held, and ending
  // the client only half-closes the socket.
  if (undo.source) {
    const { pid } = undo.source;
    await ctx.servers
      .admin(lease.claim.from)
      .then((admin) => admin`select pg_terminate_backend(${pid})`)
      .catch((killError: unknown) =>
        ctx.log.warn({ companyId: company.id, error: describeError(killError) }, 'could not end the move session on the old database'),
      );
  }
  await undo.source?.end();
  await undo.target?.end();
  await lease
    .release()
    .catch((releaseError: unknown) =>
      ctx.log.error(
        { companyId: company.id, error: describeError(releaseError) },
        'could not release a failed move; its lease lapses by itself',
      ),
    );
  let cleanup = 'ok';
  try {
    const [leftover] = await ctx.db.select().from(databaseLeftovers).where(eq(databaseLeftovers.id, lease.claim.leftoverId));
    if (leftover) await removeLeftover(ctx, leftover);
  } catch (cleanupError) {
    cleanup = `${describeError(cleanupError)}; silo reconcile drops it`;
  }
  undo.audit.push({
    companyId: company.id,
    serverId: lease.claim.to,
    action: 'moved',
    status: 'failed',
    actor: undo.actor,
    durationMs: Math.round(performance.now() - undo.started),
    error: reason,
    details: { from: lease.claim.from, to: lease.claim.to, step: undo.step, cleanup },
  });
  await recordAudit(ctx.db, undo.audit).catch(() => {});
  ctx.log.error({ companyId: company.id, step: undo.step, error: reason, cleanup }, 'moving a company failed; it stays on its old server');

  const message = `moving the company failed at step "${undo.step}"; it is still served from its old database server`;
  if (isConnectionError(error)) return new SiloError('unavailable', message, { companyId: company.id, step: undo.step });
  const details = error instanceof SiloError && error.details !== undefined ? error.details : { error: describeError(error) };
  return new SiloError('internal', message, { companyId: company.id, step: undo.step, ...(details as object), cleanup });
}
