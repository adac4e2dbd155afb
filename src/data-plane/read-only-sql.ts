// The read-only executor: SQL that a person (a company admin's console, a system admin's fleet
// query) wrote, run on one company's database as the company's own role. What keeps it harmless is
// PostgreSQL, not a parser of ours:
// - a READ ONLY transaction, always rolled back: writes, DDL, nextval() and functions that write are
//   refused by the server ("cannot execute ... in a read-only transaction");
// - the company's role, which owns its database and nothing else: SET ROLE, COPY ... PROGRAM,
//   pg_read_file() and other databases are refused by its privileges;
// - the extended protocol (Parse/Bind/Execute) for the text: it takes exactly one statement, so
//   "select 1; commit; delete ..." is refused by the server as a whole;
// - statement_timeout and idle_in_transaction_session_timeout, set for this transaction only, and
//   a row cap: the query reads at most maxRows + 1 rows from its portal, then the portal is closed.
// The settings are made with set_config() in a SELECT, which takes the transaction's snapshot: from
// then on even SET TRANSACTION READ WRITE is refused.
import type { Sql } from 'postgres';
import {
  inReadOnlyPgTransaction,
  inReadOnlySqlRun,
  inReadOnlySqlTransaction,
  type PgClientLike,
  type PgPoolLike,
} from '../base/db/transaction.ts';
import { driverError, isConnectionError, pgCode, SiloError } from '../base/errors.ts';
import type { TenantDb } from './tenant-db.ts';

export interface ReadOnlyLimits {
  statementTimeoutMs: number;
  idleInTransactionTimeoutMs: number;
  maxRows: number;
}

export interface ReadOnlyResult {
  columns: { name: string; type: string }[];
  rows: unknown[][];
  /** Rows returned (at most maxRows). */
  rowCount: number;
  /** More rows were there than maxRows. */
  truncated: boolean;
  ms: number;
}

/** A run the database refused (an SQL error, a timeout, a write): its message and SQLSTATE. */
export class SqlRefused extends SiloError {
  constructor(
    message: string,
    readonly sqlState: string,
  ) {
    super('validation_failed', message, { sqlState });
  }
}

export type SqlRunOutcome = 'ok' | 'refused' | 'unavailable' | 'failed';

/** How runs ended since start, by who ran them (console, fleet): read by /metrics. */
export class SqlRunCounts {
  private readonly counts = new Map<string, { source: string; outcome: SqlRunOutcome; runs: number }>();

  count(source: string, outcome: SqlRunOutcome): void {
    const key = `${source}/${outcome}`;
    const entry = this.counts.get(key) ?? { source, outcome, runs: 0 };
    entry.runs++;
    this.counts.set(key, entry);
  }

  entries() {
    return [...this.counts.values()];
  }
}

/** The outcome a run's error counts as. */
export function outcomeOf(error: unknown): SqlRunOutcome {
  if (error instanceof SqlRefused) return 'refused';
  if (error instanceof SiloError && error.code === 'unavailable') return 'unavailable';
  return 'failed';
}

interface RawResult {
  columns: { name: string; typeOid: number }[];
  rows: unknown[][];
}

/** The run's settings, for its transaction only. */
const settingsOf = (limits: ReadOnlyLimits) => ({
  statement_timeout: `${Math.floor(limits.statementTimeoutMs)}ms`,
  idle_in_transaction_session_timeout: `${Math.floor(limits.idleInTransactionTimeoutMs)}ms`,
});

/** Runs one statement read-only on the company's database (`db` from the pool map). */
export async function runReadOnly(db: TenantDb, text: string, params: unknown[], limits: ReadOnlyLimits): Promise<ReadOnlyResult> {
  const started = performance.now();
  const client = (db as { $client?: unknown }).$client;
  return answer(started, limits, async () =>
    isPostgresJs(client)
      ? await inReadOnlySqlTransaction(client, settingsOf(limits), (conn) => postgresJsRun(conn, client.CLOSE, text, params, limits))
      : await inReadOnlyPgTransaction(client as PgPoolLike, settingsOf(limits), async (pg) => {
          const result = await pgRows(pg, text, params, limits.maxRows + 1);
          return { ...result, types: await typeNames(async (q, p) => (await pg.query(q, p)).rows, result.columns) };
        }),
  );
}

/**
 * runReadOnly() on a postgres.js client of one connection, opened as the company's role for this
 * run alone; the caller closes it after. Its BEGIN goes out with the query (one round trip less)
 * and closing the connection takes the place of the rollback (src/base/db/transaction.ts,
 * inReadOnlySqlRun): what a fleet query does for a company whose pool is not open.
 */
export async function runReadOnlyOnce(sql: Sql, text: string, params: unknown[], limits: ReadOnlyLimits): Promise<ReadOnlyResult> {
  const started = performance.now();
  return answer(started, limits, () =>
    inReadOnlySqlRun(sql, settingsOf(limits), (conn) => postgresJsRun(conn, sql.CLOSE, text, params, limits)),
  );
}

async function postgresJsRun(conn: Sql, close: unknown, text: string, params: unknown[], limits: ReadOnlyLimits) {
  const result = await postgresJsRows(conn, close, text, params, limits.maxRows + 1);
  return { ...result, types: await typeNames((q, p) => conn.unsafe(q, p as never[]), result.columns) };
}

/** The caller's answer from a run's raw rows, or its refusal. */
async function answer(
  started: number,
  limits: ReadOnlyLimits,
  run: () => Promise<RawResult & { types: Map<number, string> }>,
): Promise<ReadOnlyResult> {
  try {
    const raw = await run();
    const truncated = raw.rows.length > limits.maxRows;
    const rows = (truncated ? raw.rows.slice(0, limits.maxRows) : raw.rows).map((row) => row.map(jsonValue));
    return {
      columns: raw.columns.map((c) => ({ name: c.name, type: raw.types.get(c.typeOid) ?? String(c.typeOid) })),
      rows,
      rowCount: rows.length,
      truncated,
      ms: Math.round((performance.now() - started) * 10) / 10,
    };
  } catch (error) {
    throw refusal(error);
  }
}

function isPostgresJs(client: unknown): client is Sql {
  return typeof client === 'function' && typeof (client as Partial<Sql>).reserve === 'function';
}

/**
 * postgres.js: unnamed statement (nothing is prepared and kept on the connection), values as
 * arrays, and a cursor that reads `limit` rows and then closes the portal (`close` is the pool's
 * CLOSE marker; a reserved connection does not carry it).
 */
async function postgresJsRows(conn: Sql, close: unknown, text: string, params: unknown[], limit: number): Promise<RawResult> {
  let rows: unknown[][] = [];
  let columns: { name: string; type: number }[] | undefined;
  const query = conn.unsafe(text, params as never[], { prepare: false }).values();
  const done = await query.cursor(limit, (batch) => {
    rows = batch as unknown as unknown[][];
    columns = (batch as unknown as { columns?: typeof columns }).columns;
    // Stop after the first batch: one more row than the cap says whether there were more.
    return close;
  });
  columns ??= (done as unknown as { columns?: typeof columns }).columns ?? [];
  return { columns: columns.map((c) => ({ name: c.name, typeOid: c.type })), rows };
}

/**
 * node-postgres (Neon's driver): `rows` makes it use the extended protocol (one statement only).
 * It fetches the portal to its end in batches of `rows`; the statement timeout bounds that.
 */
async function pgRows(pg: PgClientLike, text: string, params: unknown[], limit: number): Promise<RawResult> {
  let result: { rows: unknown[][]; fields: { name: string; dataTypeID: number }[] };
  try {
    result = await pg.query({ text, values: params, rows: limit, rowMode: 'array' });
  } catch (error) {
    if (pgCode(error)) syncAfterRefusal(pg);
    throw error;
  }
  return { columns: result.fields.map((f) => ({ name: f.name, typeOid: f.dataTypeID })), rows: result.rows.slice(0, limit) };
}

/**
 * With `rows`, node-postgres asks for the portal's rows with Flush instead of Sync, and when the
 * server refuses the statement it does not send the Sync either (node-postgres issue 3707, open):
 * the server then waits for a Sync and the client for a ReadyForQuery, and the client's next query
 * (the transaction's ROLLBACK) waits for ever. The Sync sent here ends that exchange; the ROLLBACK
 * queued behind it then runs.
 */
function syncAfterRefusal(pg: PgClientLike): void {
  const connection = (pg as { connection?: { sync?: () => void } }).connection;
  connection?.sync?.();
}

/** Built-in types' names as format_type() spells them (their OIDs are fixed), to save asking. */
const BUILT_IN_TYPES = new Map<number, string>([
  [16, 'boolean'],
  [17, 'bytea'],
  [20, 'bigint'],
  [21, 'smallint'],
  [23, 'integer'],
  [25, 'text'],
  [114, 'json'],
  [700, 'real'],
  [701, 'double precision'],
  [1043, 'character varying'],
  [1082, 'date'],
  [1114, 'timestamp without time zone'],
  [1184, 'timestamp with time zone'],
  [1700, 'numeric'],
  [2950, 'uuid'],
  [3802, 'jsonb'],
  [1009, 'text[]'],
  [1007, 'integer[]'],
]);

/** The columns' type names, as format_type() spells them; others than built-ins asked in the same transaction. */
async function typeNames(
  query: (text: string, params: unknown[]) => Promise<readonly unknown[]>,
  columns: { typeOid: number }[],
): Promise<Map<number, string>> {
  const oids = [...new Set(columns.map((c) => c.typeOid))].filter((oid) => !BUILT_IN_TYPES.has(oid));
  if (oids.length === 0) return BUILT_IN_TYPES;
  const found = (await query(
    // The OIDs as one text: an array parameter needs the driver to know array types, which a
    // connection without prepared statements (one-run connections) infers without.
    "select oid::int as oid, pg_catalog.format_type(oid, null) as name from pg_catalog.pg_type where oid = any(string_to_array($1, ',')::oid[])",
    [oids.join(',')],
  )) as { oid: number; name: string }[];
  return new Map([...BUILT_IN_TYPES, ...found.map((t) => [t.oid, t.name] as const)]);
}

/** A value as JSON carries it: bytea as \x hex (PostgreSQL's own text form), bigint as text. */
function jsonValue(value: unknown): unknown {
  if (Buffer.isBuffer(value)) return `\\x${value.toString('hex')}`;
  if (typeof value === 'bigint') return value.toString();
  return value;
}

/**
 * The caller's answer for a failed run. A database error is the caller's to read: its message and
 * SQLSTATE, nothing else (postgres.js errors also carry the query and its parameters, and the
 * server's detail may quote rows). A connection failure names no host: the database is unavailable.
 */
function refusal(error: unknown): Error {
  if (error instanceof SiloError) return error;
  if (isConnectionError(error)) return new SiloError('unavailable', "the company's database could not be reached");
  const code = pgCode(error);
  const inner = driverError(error);
  if (code && inner instanceof Error) return new SqlRefused(inner.message, code);
  return error instanceof Error ? error : new Error(String(error));
}
