// Queries built once per tenant pool instead of once per request. Building a drizzle query costs
// more CPU than the primary-key lookup it sends, and a prepared statement also spares Postgres the
// parse; on a hot read path that is most of the difference from a bare driver call
// (docs/request-path.md has the figures). A pool is replaced after a migration (its company is
// evicted everywhere), so no prepared statement outlives the schema it was planned for.
import { Placeholder } from 'drizzle-orm';
import type { PgColumn } from 'drizzle-orm/pg-core';
import type { Sql } from 'postgres';
import type { TenantDb } from './pool-map.ts';

/** `build(db)` once per tenant database handle; later calls get the same prepared query. */
export function preparedPerTenant<Q>(build: (db: TenantDb) => Q): (db: TenantDb) => Q {
  const byDb = new WeakMap<TenantDb, Q>();
  return (db) => {
    let query = byDb.get(db);
    if (query === undefined) {
      query = build(db);
      byDb.set(db, query);
    }
    return query;
  };
}

type Columns = Record<string, PgColumn>;
type RowOf<C extends Columns> = { [K in keyof C]: C[K]['_']['notNull'] extends true ? C[K]['_']['data'] : C[K]['_']['data'] | null };

/** What preparedSelect needs of a drizzle prepared query. */
interface PreparedQuery<Row> {
  execute(values: Record<string, unknown>): Promise<Row[]>;
  getQuery(): { sql: string; params: unknown[] };
}

/**
 * A prepared select of `columns` (in that order) for the hottest reads. On a postgres.js pool it is
 * sent by postgres.js itself (a named prepared statement, as drizzle would) and its rows decoded
 * with the columns' own mapping, without drizzle's execution layers (a tracing span, a cache check
 * and an async function each, three promises, and its generic row mapping): about a tenth of a
 * warm read's CPU. Anywhere else (a transaction, the Neon driver) it runs through drizzle.
 */
export function preparedSelect<C extends Columns>(
  columns: C,
  build: (db: TenantDb) => PreparedQuery<RowOf<C>>,
): (db: TenantDb, values: Record<string, unknown>) => Promise<RowOf<C>[]> {
  const decoders = Object.entries(columns);
  const decode = (raw: unknown[]) => {
    const row: Record<string, unknown> = {};
    for (let i = 0; i < decoders.length; i++) {
      const value = raw[i];
      row[decoders[i]![0]] = value === null || value === undefined ? null : decoders[i]![1].mapFromDriverValue(value);
    }
    return row as RowOf<C>;
  };
  const perDb = preparedPerTenant((db) => {
    const query = build(db);
    const client = (db as { $client?: Partial<Sql> }).$client;
    if (typeof client?.unsafe !== 'function') return (values: Record<string, unknown>) => query.execute(values);
    const { sql: text, params } = query.getQuery();
    const names = params.map((param) => {
      if (!(param instanceof Placeholder)) throw new Error('preparedSelect: every parameter must be a placeholder');
      return param.name as string;
    });
    const unsafe = client.unsafe.bind(client);
    return async (values: Record<string, unknown>) => {
      const rows = await unsafe(
        text,
        names.map((name) => values[name] as never),
        { prepare: true },
      ).values();
      return rows.map(decode);
    };
  });
  return (db, values) => perDb(db)(values);
}
