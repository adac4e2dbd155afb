// Reading company rows and shaping them for callers. A company's credentials never leave here.
import { and, desc, eq, inArray, ne, sql } from 'drizzle-orm';
import type { SiloContext } from '../context.ts';
import { companies, type CompanyRow, type CompanyStatus } from './schema.ts';
import { notFound } from '../base/errors.ts';

/**
 * The companies Silo serves: they have a database, their users log in (a suspended one's get 403),
 * and they are migrated, moved and rotated. Provisioning, failed and deleted ones are not.
 */
export const SERVABLE_STATUSES = ['active', 'suspended'] as const satisfies readonly CompanyStatus[];

export type ServableStatus = (typeof SERVABLE_STATUSES)[number];

export function isServable<C extends Pick<CompanyRow, 'status'>>(company: C | undefined): company is C & { status: ServableStatus } {
  return company !== undefined && (SERVABLE_STATUSES as readonly string[]).includes(company.status);
}

/** The same rule as a condition on the companies table. */
export function servableCompanies() {
  return inArray(companies.status, [...SERVABLE_STATUSES]);
}

export interface CompanyView {
  id: string;
  slug: string;
  name: string;
  status: CompanyRow['status'];
  maxUsers: number | null;
  maxStorageBytes: number | null;
  features: Record<string, unknown>;
  serverId: string | null;
  provider: CompanyRow['provider'];
  database: string | null;
  schemaVersion: string | null;
  /** Why the last migration of this company failed; null once one succeeds. */
  migrationError: string | null;
  migratedAt: string | null;
  lastError: string | null;
  createdAt: string;
  updatedAt: string;
  deletedAt: string | null;
  backupSchedule: { everyHours: number; keep: number } | null;
}

export function toCompanyView(row: CompanyRow): CompanyView {
  return {
    id: row.id,
    slug: row.slug,
    name: row.name,
    status: row.status,
    maxUsers: row.maxUsers,
    maxStorageBytes: row.maxStorageBytes,
    features: row.features,
    serverId: row.serverId,
    provider: row.provider,
    database: row.databaseName,
    schemaVersion: row.schemaVersion,
    migrationError: row.migrationError,
    migratedAt: row.migratedAt?.toISOString() ?? null,
    lastError: row.lastError,
    createdAt: row.createdAt.toISOString(),
    updatedAt: row.updatedAt.toISOString(),
    deletedAt: row.deletedAt?.toISOString() ?? null,
    backupSchedule: row.backupSchedule ?? null,
  };
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** A company by id or slug. A slug names the live company, else its most recently deleted one. */
export async function findCompany(ctx: SiloContext, idOrSlug: string): Promise<CompanyRow | undefined> {
  if (UUID.test(idOrSlug)) {
    const [row] = await ctx.db.select().from(companies).where(eq(companies.id, idOrSlug.toLowerCase()));
    return row;
  }
  const [row] = await ctx.db
    .select()
    .from(companies)
    .where(eq(companies.slug, idOrSlug))
    .orderBy(sql`${companies.status} = 'deleted'`, desc(companies.createdAt))
    .limit(1);
  return row;
}

export async function getCompany(ctx: SiloContext, idOrSlug: string): Promise<CompanyRow> {
  const row = await findCompany(ctx, idOrSlug);
  if (!row) throw notFound('company');
  return row;
}

/** The live (not deleted) company holding a slug. */
export async function findLiveCompanyBySlug(ctx: SiloContext, slug: string): Promise<CompanyRow | undefined> {
  const [row] = await ctx.db
    .select()
    .from(companies)
    .where(and(eq(companies.slug, slug), ne(companies.status, 'deleted')));
  return row;
}
