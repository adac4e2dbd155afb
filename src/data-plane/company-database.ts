// Where a company's database is and how to log in to it as the company's own role. A postgres
// company is reached through its server's URL with its own database, role and password; neon and
// external companies carry a whole connection string of their own (their host is not a server's).
import type { Sql } from 'postgres';
import type { CompanyRow } from '../control-plane/schema.ts';
import { type CredentialBox, sealedAt } from '../base/crypto/credentials.ts';
import { type ClientOptions, ONE_CONNECTION, openPostgres } from '../base/db/postgres-client.ts';
import { withVerifiedTls } from '../base/db/tls.ts';
import { SiloError } from '../base/errors.ts';
import type { ServerConnections } from '../control-plane/server-connections.ts';
import { neonConnectTimeoutSeconds } from '../providers/neon/driver.ts';
import type { RotatingLogin } from './rotating-login.ts';
import type { TenantTarget } from './pool-map.ts';

interface Deps {
  servers: ServerConnections;
  box: CredentialBox;
}

function noDatabase(company: CompanyRow): SiloError {
  return new SiloError('unavailable', `the company is ${company.status} and has no database to reach`);
}

/** The company's connection string, as its own role. Never log or show it. */
export async function companyDatabaseUrl(deps: Deps, company: CompanyRow): Promise<string> {
  if (company.databaseUrlEncrypted) return deps.box.open(company.databaseUrlEncrypted, sealedAt.companyDatabaseUrl(company.id));
  const { serverId, databaseName, roleName, credentialsEncrypted } = company;
  if (!serverId || !databaseName || !roleName || !credentialsEncrypted) throw noDatabase(company);
  return deps.servers.urlFor(serverId, databaseName, {
    user: roleName,
    password: deps.box.open(credentialsEncrypted, sealedAt.companyCredentials(company.id)),
  });
}

export function hasDatabase(company: CompanyRow): boolean {
  return Boolean(
    company.databaseUrlEncrypted || (company.serverId && company.databaseName && company.roleName && company.credentialsEncrypted),
  );
}

/**
 * Whose connection budget in the pool map the company's connections count against: its database
 * server, or for a company on a host of its own (a neon compute, an external server Silo knows
 * nothing about, two of which may share one) a budget of its own.
 */
export const budgetKeyOf = (company: CompanyRow): string =>
  company.provider === 'postgres' ? (company.serverId ?? '') : `${company.provider}:${company.id}`;

/**
 * What the pool map needs to open the company's pool. `login`, for a postgres company, gives the
 * password of every new connection instead of the one in the URL (credentials can be rotated under
 * an open pool).
 */
export function companyPoolTarget(deps: Deps, company: CompanyRow, login?: RotatingLogin): TenantTarget {
  if (!hasDatabase(company) || !company.serverId) throw noDatabase(company);
  return {
    ...(company.provider === 'postgres' && login ? { login } : {}),
    companyId: company.id,
    // All count against maxPools too.
    serverId: budgetKeyOf(company),
    driver: company.provider === 'neon' ? 'neon' : 'postgres',
    url: () => companyDatabaseUrl(deps, company),
  };
}

/**
 * A postgres.js client logged in as the company's role, for operations (migrations, stats, the first
 * admin, moves): one connection unless `options` says otherwise; the caller ends it. Neon companies
 * are reached over Neon's ordinary TCP endpoint here (sessions, advisory locks and multi-statement
 * migrations need one); requests go through the serverless driver.
 */
export async function openAsCompany(deps: Deps, company: CompanyRow, options: ClientOptions = {}): Promise<Sql> {
  const url = await companyDatabaseUrl(deps, company);
  if (company.provider !== 'neon') return openPostgresJs(url, options);
  // Neon's URIs say sslmode=require, which checks no certificate; Neon's are from a public CA.
  // Its compute may be waking from scale to zero: allow for the start.
  return openPostgresJs(withVerifiedTls(url), { connect_timeout: neonConnectTimeoutSeconds(), ...options });
}

/** A postgres.js client on a connection string, with sslmode and sslrootcert honoured (docs/tls.md). */
export function openPostgresJs(url: string, options: ClientOptions = {}): Sql {
  return openPostgres(url, { ...ONE_CONNECTION, ...options });
}
