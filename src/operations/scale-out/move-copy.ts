// The copy of a move. The old database's side takes a share lock on every table (writes wait,
// reads go on) inside one repeatable-read transaction, so it reads one snapshot; the new database's
// side takes every row and the sequences in one transaction of its own; then both are compared
// table by table (row count and checksum). Each side is one connection that the move keeps.
import type { Sql } from 'postgres';
import { SiloError } from '../../base/errors.ts';
import type { TenantNames } from '../../base/names.ts';
import type { SiloContext } from '../../context.ts';
import type { MoveLease } from './move-claim.ts';
import { COPY_SESSION, copyTable, fingerprint, readSequences, readTables, setSequences, type TableShape } from './table-copy.ts';

export interface MovedTable {
  name: string;
  rows: number;
  /** COPY text carried for it. */
  bytes: number;
}

/** How long the lock on the old database may wait for writes that are running there. */
const LOCK_TIMEOUT = '10s';
/** How long the locked session may sit idle inside its transaction before the server ends it. */
const STALLED_MOVE_TIMEOUT = '60s';

/**
 * One side of the copy: a one-connection client (`max: 1`) whose session holds the move's
 * transaction (and, on the old database, its lock), with every value printed alike on both sides.
 * A connection that closes takes its transaction with it, and postgres.js would open a new one
 * without a word: `assertOpen()` refuses to go on once that has happened.
 */
export interface CopySide {
  sql: Sql;
  /** Its backend, for the server's admin to end when the client cannot (see undoMove). */
  pid: number;
  assertOpen(): void;
  end(): Promise<void>;
}

export async function openForCopy(ctx: SiloContext, serverId: string, names: TenantNames, password: string): Promise<CopySide> {
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

/** The lock step: the old database's tables, locked against writes in one snapshot. Answers their shapes. */
export async function lockSource(on: Sql): Promise<TableShape[]> {
  const shapes = await readTables(on);
  await on.unsafe('begin isolation level repeatable read');
  await on.unsafe(`set local lock_timeout = '${LOCK_TIMEOUT}'`);
  // A mover that hangs without dying must not hold the lock for ever: the server ends it.
  await on.unsafe(`set local idle_in_transaction_session_timeout = '${STALLED_MOVE_TIMEOUT}'`);
  if (shapes.length > 0) await on`lock table ${on(shapes.map((s) => s.name))} in share mode`;
  return shapes;
}

/** The copy step: every table and the sequences into the new database, committed together. */
export async function copyTables(
  ctx: SiloContext,
  lease: MoveLease,
  origin: CopySide,
  target: CopySide,
  shapes: TableShape[],
): Promise<MovedTable[]> {
  const tables: MovedTable[] = [];
  const into = target.sql;
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
  return tables;
}

/** The verify step: each copied table matches its original, row for row; sets the row counts. */
export async function verifyCopy(source: CopySide, target: CopySide, shapes: TableShape[], tables: MovedTable[]): Promise<void> {
  for (const [i, shape] of shapes.entries()) {
    const [old, copied] = await Promise.all([fingerprint(source.sql, shape), fingerprint(target.sql, shape)]);
    if (old.rows !== copied.rows || old.checksum !== copied.checksum) {
      throw new SiloError('internal', `the copy of table ${shape.name} does not match the original`, {
        table: shape.name,
        rows: { old: old.rows, copied: copied.rows },
        checksums: { old: old.checksum, copied: copied.checksum },
      });
    }
    tables[i]!.rows = copied.rows;
  }
}

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
