// Re-sealing stored credentials, a batch at a time, while Silo keeps serving. Two uses:
// - at every start, values in the earlier format (v1: bound to nothing, so a value copied into
//   another row would still open) are re-sealed as v2, bound to their row and column;
// - `silo secrets rotate-master-key` re-seals every value that the current key cannot open (it
//   was sealed under SILO_MASTER_KEY_PREVIOUS), so that the previous key can then be retired.
// Rows are taken in id order; each update replaces only the value it read, so a write racing it
// (or another instance doing the same) wins and nothing is lost; an interrupted run is finished
// by running it again, which skips what is already current.
import type { Sql } from 'postgres';
import { type CredentialBox, isCurrentFormat, type SealedField, sealedAt } from './credentials.ts';

/** Every column that holds a sealed value, and the field each value is bound to. */
export const SEALED_COLUMNS: readonly { table: string; column: string; field: (id: string) => SealedField }[] = [
  { table: 'companies', column: 'credentials_encrypted', field: sealedAt.companyCredentials },
  { table: 'companies', column: 'database_url_encrypted', field: sealedAt.companyDatabaseUrl },
  { table: 'database_servers', column: 'url_encrypted', field: sealedAt.serverUrl },
  { table: 'database_servers', column: 'api_key_encrypted', field: sealedAt.serverApiKey },
  { table: 'jwt_signing_keys', column: 'key_encrypted', field: sealedAt.jwtSigningKey },
];

export interface ResealProgress {
  /** Stored values looked at so far. */
  checked: number;
  /** Of those, re-sealed by this run. */
  resealed: number;
}

export interface ResealOptions {
  /** earlier-format: only v1 values (cheap; every start). stale: v1 and values the current key cannot open. */
  which: 'earlier-format' | 'stale';
  batchSize?: number;
  /** Checked between batches: an aborted run stops there, leaving every row whole. */
  signal?: AbortSignal;
  onBatch?: (progress: ResealProgress) => void;
}

export async function resealStored(sql: Sql, box: CredentialBox, options: ResealOptions): Promise<ResealProgress> {
  const progress: ResealProgress = { checked: 0, resealed: 0 };
  const batchSize = options.batchSize ?? 500;
  const earlierOnly = options.which === 'earlier-format';
  const needsResealing = (value: string, field: SealedField) => (earlierOnly ? !isCurrentFormat(value) : box.isStale(value, field));
  for (const { table, column, field } of SEALED_COLUMNS) {
    let after = '00000000-0000-0000-0000-000000000000';
    for (;;) {
      if (options.signal?.aborted) return progress;
      const rows = await sql<{ id: string; value: string }[]>`
        select id, ${sql(column)} as value from ${sql(table)}
        where id > ${after} and ${sql(column)} is not null ${earlierOnly ? sql`and ${sql(column)} not like 'v2.%'` : sql``}
        order by id limit ${batchSize}`;
      if (rows.length === 0) break;
      for (const { id, value } of rows) {
        progress.checked++;
        if (!needsResealing(value, field(id))) continue;
        const sealed = box.seal(box.open(value, field(id)), field(id));
        const updated = await sql`update ${sql(table)} set ${sql(column)} = ${sealed} where id = ${id} and ${sql(column)} = ${value}`;
        progress.resealed += updated.count;
      }
      after = rows[rows.length - 1]!.id;
      options.onBatch?.({ ...progress });
    }
  }
  return progress;
}
