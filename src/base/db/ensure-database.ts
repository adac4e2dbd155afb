// Creating a database of Silo's own (the embedded server's management database, the shared
// reference database) on first start, and the URL that reaches it.
import { openPostgres } from './postgres-client.ts';

/** Creates `database` on the server of `serverUrl` unless it exists; answers a URL to it. */
export async function ensureDatabase(serverUrl: string, database: string): Promise<string> {
  const admin = openPostgres(serverUrl, { max: 1 });
  try {
    const [exists] = await admin`select 1 from pg_database where datname = ${database}`;
    // Two instances starting at once: one creates it, the other finds it taken (42P04, or 23505
    // when both got past the check before either committed).
    if (!exists)
      await admin`create database ${admin(database)}`.catch((e) =>
        e.code === '42P04' || e.code === '23505' ? undefined : Promise.reject(e),
      );
  } finally {
    await admin.end();
  }
  const url = new URL(serverUrl);
  url.pathname = `/${database}`;
  return url.toString();
}
