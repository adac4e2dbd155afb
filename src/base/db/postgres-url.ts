// What Silo accepts as a Postgres connection string, in one place. Two strengths: a server's URL
// (the management database, a database server's admin login), whose login and database are
// proven by connecting to it; and a company's own database (bring your own), which must also name
// a database and parse the way postgres.js will read it, because it is stored before it is used.
import { z } from 'zod';

/** Longer than any real connection string: refused before it is parsed or stored. */
export const POSTGRES_URL_MAX_LENGTH = 2000;

export const POSTGRES_URL_RULE = 'must be a postgres:// or postgresql:// URL';
export const DATABASE_URL_RULE = 'must be a postgres:// or postgresql:// URL naming a database';

/** The shape of a URL naming a database, as published in the API description. */
export const DATABASE_URL_PATTERN = /^postgres(ql)?:\/\/[^/]+\/[^/?]+/;

export function isPostgresUrl(value: string): boolean {
  return value.length <= POSTGRES_URL_MAX_LENGTH && /^postgres(ql)?:\/\/.+/.test(value);
}

/** A connection string postgres.js can open, naming a database: checked before anything is recorded. */
export function isDatabaseUrl(value: string): boolean {
  if (value.length > POSTGRES_URL_MAX_LENGTH || !DATABASE_URL_PATTERN.test(value)) return false;
  try {
    const parsed = new URL(value);
    const port = parsed.port === '' ? 5432 : Number(parsed.port);
    decodeURIComponent(parsed.username);
    decodeURIComponent(parsed.password);
    return /^postgres(ql)?:$/.test(parsed.protocol) && parsed.hostname !== '' && parsed.pathname.length > 1 && port > 0 && port < 65536;
  } catch {
    return false;
  }
}

export const postgresUrlSchema = z.string().refine(isPostgresUrl, POSTGRES_URL_RULE);
