// Queries built once per tenant pool instead of once per request. Building a drizzle query costs
// more CPU than the primary-key lookup it sends, and a prepared statement also spares Postgres the
// parse; on a hot read path that is most of the difference from a bare driver call
// (docs/pool-map.md has the figures). A pool is replaced after a migration (its company is
// evicted everywhere), so no prepared statement outlives the schema it was planned for.
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
