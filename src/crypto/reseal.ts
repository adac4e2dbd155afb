// Stored credentials in the earlier format (v1: no additional authenticated data, so a value could
// be copied into another row and still open) are re-sealed in the current one, bound to their row
// and column. Runs at every start (server and CLI); once nothing is left in v1, it costs one scan of
// each column. Rows are taken in id order, a batch at a time, and each update only replaces
// the value it read, so instances starting together, or a write racing it, lose nothing.
import type { Sql } from 'postgres';
import type { Logger } from '../logger.ts';
import { type CredentialBox, type SealedField, sealedAt } from './credentials.ts';

/** Every column that holds a sealed value, and the field each value is bound to. */
export const SEALED_COLUMNS: readonly { table: string; column: string; field: (id: string) => SealedField }[] = [
  { table: 'companies', column: 'credentials_encrypted', field: sealedAt.companyCredentials },
  { table: 'companies', column: 'database_url_encrypted', field: sealedAt.companyDatabaseUrl },
  { table: 'database_servers', column: 'url_encrypted', field: sealedAt.serverUrl },
  { table: 'database_servers', column: 'api_key_encrypted', field: sealedAt.serverApiKey },
];

const BATCH = 500;

/** Re-seals every stored value that is not in the current format; returns how many were. */
export async function resealEarlierFormat(sql: Sql, box: CredentialBox, log: Logger): Promise<number> {
  let resealed = 0;
  for (const { table, column, field } of SEALED_COLUMNS) {
    let after = '00000000-0000-0000-0000-000000000000';
    for (;;) {
      const rows = await sql<{ id: string; value: string }[]>`
        select id, ${sql(column)} as value from ${sql(table)}
        where id > ${after} and ${sql(column)} is not null and ${sql(column)} not like 'v2.%'
        order by id limit ${BATCH}`;
      if (rows.length === 0) break;
      for (const { id, value } of rows) {
        const sealed = box.seal(box.open(value, field(id)), field(id));
        const updated = await sql`update ${sql(table)} set ${sql(column)} = ${sealed} where id = ${id} and ${sql(column)} = ${value}`;
        resealed += updated.count;
      }
      after = rows[rows.length - 1]!.id;
    }
  }
  if (resealed > 0) log.info({ resealed }, 're-sealed stored credentials in the current format (bound to their rows)');
  return resealed;
}
