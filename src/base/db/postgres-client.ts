// The one way Silo opens a postgres.js client: every pool and connection (management database,
// migrator, admin pools, operations, the pool map) goes through here, so a URL's sslmode and
// sslrootcert are honoured by all of them (src/base/db/tls.ts).
import postgres, { type Sql } from 'postgres';
import { postgresTls } from './tls.ts';

/** Options for a postgres.js client that maps no custom types. */
export type ClientOptions = postgres.Options<Record<string, never>>;

export function openPostgres(url: string, options: ClientOptions = {}): Sql {
  const tls = postgresTls(url);
  return postgres(tls.url, { ...options, ssl: tls.ssl });
}
