// The one way Silo opens a postgres.js client: every pool and connection (management database,
// migrator, admin pools, operations, the pool map) goes through here, so a URL's sslmode and
// sslrootcert are honoured by all of them (src/base/db/tls.ts), and they share these defaults:
// notices are dropped (Postgres sends one for every `if not exists` that finds something, which
// postgres.js would print to the console), and each session names itself in pg_stat_activity.
import postgres, { type Sql } from 'postgres';
import { postgresTls } from './tls.ts';

/** Options for a postgres.js client that maps no custom types. */
export type ClientOptions = postgres.Options<Record<string, never>>;

/**
 * A client for one task (an operation on one database, a probe): a single connection that closes
 * when idle, short timeouts, and no prepared statements (one task runs few statements, and some of
 * them change the role or the schema the next statement would be prepared against).
 */
export const ONE_CONNECTION = { max: 1, idle_timeout: 5, connect_timeout: 5, prepare: false } as const satisfies ClientOptions;

export function openPostgres(url: string, options: ClientOptions = {}): Sql {
  const tls = postgresTls(url);
  return postgres(tls.url, {
    onnotice: () => {},
    ...options,
    connection: { application_name: 'silo', ...options.connection },
    ssl: tls.ssl,
  });
}
