// A connection to a company's database for one read-only run (a fleet query reaching a company
// whose pool is not open), as the company's role: opened, used once, closed. What it saves against
// a pool: the pool map's bookkeeping, the reservation's probes, the ROLLBACK (closing ends the
// transaction), and after the first one, postgres.js's query of the server's array types.
//
// postgres.js asks every new connection for the array types (fetch_types) so that it can parse
// arrays. Built-in types have the same OIDs in every database, so their array parsers, once
// fetched, serve every later connection; a type a company made itself (an enum, a composite) has
// OIDs of that database, so an array of it comes back in PostgreSQL's text form ("{a,b}") here.
import type { Sql } from 'postgres';
import type { CompanyRow } from '../control-plane/schema.ts';
import type { CredentialBox } from '../base/crypto/credentials.ts';
import type { ServerConnections } from '../control-plane/server-connections.ts';
import { openAsCompany } from './company-database.ts';

/** OIDs below this are PostgreSQL's own (FirstNormalObjectId): the same in every database. */
const FIRST_NORMAL_OID = 16384;

type Parser = (value: unknown) => unknown;
let builtInArrayParsers: Record<number, Parser> | undefined;

export async function openForOneRun(
  deps: { servers: ServerConnections; box: CredentialBox },
  company: CompanyRow,
  connectTimeoutSeconds: number,
): Promise<Sql> {
  const known = builtInArrayParsers;
  const sql = await openAsCompany(deps, company, {
    connect_timeout: connectTimeoutSeconds,
    fetch_types: known === undefined,
    // Read-only from the login on: a second line behind the run's own BEGIN READ ONLY.
    connection: { application_name: 'silo-sql', default_transaction_read_only: true },
  });
  // The connection reads the parsers from this very object, row by row.
  if (known) Object.assign(sql.options.parsers, known);
  return sql;
}

/** Keeps the built-in array parsers of a connection that fetched them, for the connections after it. */
export function rememberArrayParsers(sql: Sql): void {
  if (builtInArrayParsers || !sql.options.fetch_types) return;
  const found = Object.entries(sql.options.parsers as Record<string, Parser & { array?: boolean }>).filter(
    ([oid, parser]) => Number(oid) < FIRST_NORMAL_OID && parser.array === true,
  );
  // None: the types were not fetched (the run failed before); try again with the next one.
  if (found.length > 0) builtInArrayParsers = Object.fromEntries(found);
}
