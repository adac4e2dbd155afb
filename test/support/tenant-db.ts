// A company's own database opened directly (as the server's admin), for tests that seed it or
// compare what it holds apart from Silo's own code.
import postgres from 'postgres';
import { namesOf, serverUrl, type TestSilo } from './test-silo.ts';

export async function withTenantDb<T>(on: TestSilo, slug: string, run: (sql: postgres.Sql) => Promise<T>): Promise<T> {
  const sql = postgres(serverUrl((await namesOf(on, slug)).database), { max: 1, onnotice: () => {} });
  try {
    return await run(sql);
  } finally {
    await sql.end({ timeout: 2 });
  }
}

/** Row counts and an md5 over every row's text, sorted, per table. */
export function tableContents(on: TestSilo, slug: string, tables: readonly string[]): Promise<Record<string, unknown>> {
  return withTenantDb(on, slug, async (sql) => {
    const result: Record<string, unknown> = {};
    for (const table of tables) {
      [result[table]] = await sql`select count(*)::int as rows, md5(string_agg(t::text, '|' order by t::text)) from ${sql(table)} t`;
    }
    return result;
  });
}
