// The one way Silo opens a transaction (docs/reliability.md, "Transactions on pooled clients").
//
// postgres.js's own sql.begin() (and drizzle's db.transaction(), which calls it) is not safe on a
// pool under load: begin() claims its connection in a hook that runs at the end of an `&&` chain
// deciding whether the pool may pipeline more onto that connection. When BEGIN fills the
// connection's pipeline (always, with the tenant pools' max_pipeline of 1, as soon as BEGIN lands
// on a busy connection; otherwise when the socket is backed up or the pipeline is 100 deep) the
// hook is skipped: the connection stays in the pool, postgres.js answers UNSAFE_TRANSACTION, and
// the server is left inside a transaction that other requests' queries then run in
// (porsager/postgres#823, #1207, #1210). sql.reserve() instead lends a connection only once it is
// idle and keeps it out of the pool until released, so BEGIN ... COMMIT on it is one caller's.
import type { PgDatabase, PgQueryResultHKT } from 'drizzle-orm/pg-core';
import { drizzle } from 'drizzle-orm/postgres-js';
import type { Sql } from 'postgres';
import { quoteLiteral } from '../names.ts';

// biome-ignore lint/suspicious/noExplicitAny: any drizzle Postgres database, whatever its schema
type AnyPgDatabase = PgDatabase<PgQueryResultHKT, any, any>;

/** The little of a postgres.js connection that tells when it closes (postgres.js calls it once). */
interface PoolConnection {
  onclose: ((error: unknown) => void) | null;
}

/**
 * The connection behind a reserved client. postgres.js hands a query's connection to its
 * `onexecute` option when the query goes out on an idle connection; a reservation can start with
 * queries of others still in flight, so a second probe then finds it idle.
 */
async function connectionOf(reserved: Sql): Promise<PoolConnection | undefined> {
  let found: PoolConnection | undefined;
  const onexecute = (connection: PoolConnection) => {
    found = connection;
  };
  for (let probe = 0; probe < 2 && !found; probe++) {
    await reserved.unsafe('select 1', [], { onexecute } as object);
  }
  return found;
}

function connectionLost(): Error {
  return Object.assign(new Error('the connection of this transaction was closed'), { code: 'CONNECTION_CLOSED' });
}

/**
 * Runs `use` on one connection of `sql` that nobody else uses meanwhile: the client itself when
 * it has one connection only (postgres.js's reserve() never resolves on a fresh one-connection
 * client created with fetch_types: false, which the fleet's migration clients are), else one
 * reserved from the pool.
 *
 * A reserved connection that closes goes back to the pool as closed, to be reconnected on demand;
 * from then on, postgres.js would write what the reservation sends (or, after release(), the
 * next query of anyone) to a socket that is gone: an uncaught TypeError that ends the process.
 * So after a close the reservation refuses queries and is not released.
 */
export async function withOneConnection<T>(sql: Sql, use: (conn: Sql) => Promise<T>): Promise<T> {
  if (sql.options.max === 1) return use(sql);
  if (sql.options.fetch_types === false) {
    // reserve() waits for a connection that postgres.js then never hands over.
    throw new Error('a pool used for transactions must fetch types (postgres.js reserve() hangs without)');
  }
  const reserved = await sql.reserve();
  let connection: PoolConnection | undefined;
  let lost = false;
  try {
    connection = await connectionOf(reserved);
    if (connection) {
      connection.onclose = () => {
        lost = true;
      };
    }
    // drizzle sends every query through unsafe(); tagged queries are the caller's to stop.
    const unsafe = reserved.unsafe;
    reserved.unsafe = ((...args: Parameters<Sql['unsafe']>) => {
      if (lost) throw connectionLost();
      return unsafe(...args);
    }) as Sql['unsafe'];
    return await use(reserved);
  } finally {
    if (connection) connection.onclose = null;
    if (!lost) reserved.release();
  }
}

/** BEGIN, `work`, COMMIT on a connection of `sql` that is this caller's alone; ROLLBACK on any error. */
export async function inSqlTransaction<T>(sql: Sql, work: (conn: Sql) => Promise<T>): Promise<T> {
  return withOneConnection(sql, async (conn) => {
    await conn.unsafe('begin');
    try {
      const result = await work(conn);
      await conn.unsafe('commit');
      return result;
    } catch (error) {
      // Nothing to roll back on a connection that was lost: withOneConnection() refuses it.
      await (async () => conn.unsafe('rollback'))().catch(() => {});
      throw error;
    }
  });
}

function isPostgresJs(client: unknown): client is Sql {
  return typeof client === 'function' && typeof (client as Partial<Sql>).reserve === 'function';
}

/**
 * Runs `work` in one transaction of `db`, a drizzle database over a postgres.js pool (the
 * management database, a tenant pool) or over Neon's Pool. `work` gets a database of the same kind
 * bound to the transaction's connection; an error it throws rolls the transaction back.
 */
export async function inTransaction<D extends AnyPgDatabase, T>(db: D, work: (tx: D) => Promise<T>): Promise<T> {
  const client = (db as { $client?: unknown }).$client;
  if (!isPostgresJs(client)) {
    // Neon's driver (node-postgres' Pool): drizzle checks a client out of the pool for the
    // transaction, so it is this caller's alone.
    return db.transaction((tx) => work(tx as unknown as D));
  }
  return inSqlTransaction(client, async (conn) => {
    // drizzle reads the pool's type parsers from `options`, which a reserved connection shares
    // but does not expose.
    const bound = Object.assign(conn, { options: client.options });
    return work(drizzle(bound, { schema: db._.fullSchema }) as unknown as D);
  });
}

/** Settings for one transaction: name -> value, both Silo's own (never a caller's text). */
export type TransactionSettings = Record<string, string>;

/**
 * BEGIN READ ONLY and the settings (set_config(..., true): this transaction only), in one round
 * trip. The SELECT takes the transaction's snapshot, after which it can no longer be made read-write.
 */
function beginReadOnly(settings: TransactionSettings): string {
  const sets = Object.entries(settings).map(([name, value]) => `set_config(${quoteLiteral(name)}, ${quoteLiteral(value)}, true)`);
  return `begin transaction read only; select ${sets.length > 0 ? sets.join(', ') : '1'}`;
}

/** ROLLBACK, then let go of session advisory locks (they outlive a rollback), in one round trip. */
const ROLLBACK_AND_UNLOCK = 'rollback; select pg_advisory_unlock_all()';

/**
 * BEGIN READ ONLY, `work`, then ROLLBACK whatever happened: for SQL that someone else wrote, which
 * must change nothing. Rolling back also undoes any session setting the SQL made (SET, set_config),
 * so the connection goes back to the pool as it came. Session advisory locks outlive a rollback:
 * they are let go of here too.
 */
export async function inReadOnlySqlTransaction<T>(sql: Sql, settings: TransactionSettings, work: (conn: Sql) => Promise<T>): Promise<T> {
  return withOneConnection(sql, async (conn) => {
    await conn.unsafe(beginReadOnly(settings));
    try {
      return await work(conn);
    } finally {
      await (async () => conn.unsafe(ROLLBACK_AND_UNLOCK))().catch(() => {});
    }
  });
}

/**
 * inReadOnlySqlTransaction() on a client of one connection that the caller opened for this work
 * alone and closes right after (the fleet query's one-run connections). BEGIN READ ONLY with its
 * settings goes out in the same write as `work`'s first query (postgres.js pipelines them on the
 * connection), saving a round trip; should BEGIN or a setting fail, the server refuses that query
 * too, as the transaction is aborted. No ROLLBACK: closing the connection ends the transaction,
 * and with it every setting and advisory lock the SQL took.
 */
export async function inReadOnlySqlRun<T>(sql: Sql, settings: TransactionSettings, work: (conn: Sql) => Promise<T>): Promise<T> {
  if (sql.options.max !== 1) throw new Error('a read-only run needs a client of one connection, closed after it');
  const begun = sql.unsafe(beginReadOnly(settings)).execute();
  const [begin, result] = await Promise.allSettled([begun, work(sql)]);
  if (begin.status === 'rejected') throw begin.reason;
  if (result.status === 'rejected') throw result.reason;
  return result.value;
}

/** The little of node-postgres' Pool (Neon's driver) that a read-only transaction needs. */
export interface PgPoolLike {
  connect(): Promise<PgClientLike>;
}
export interface PgClientLike {
  // biome-ignore lint/suspicious/noExplicitAny: node-postgres' query config and result
  query(config: any, values?: unknown[]): Promise<any>;
  release(error?: Error | boolean): void;
}

/** inReadOnlySqlTransaction() on node-postgres' Pool: a client checked out is this caller's alone. */
export async function inReadOnlyPgTransaction<T>(
  pool: PgPoolLike,
  settings: TransactionSettings,
  work: (client: PgClientLike) => Promise<T>,
): Promise<T> {
  const client = await pool.connect();
  let broken: Error | undefined;
  try {
    await client.query(beginReadOnly(settings));
    return await work(client);
  } finally {
    try {
      await client.query(ROLLBACK_AND_UNLOCK);
    } catch (error) {
      broken = error as Error;
    }
    // A client whose rollback failed is destroyed rather than handed to the next caller.
    client.release(broken ?? false);
  }
}
