// Company slugs, and the database and role names of companies. Names cannot be bound as query
// parameters, so they come only from here: behind the installation's prefix, from a company id or a
// slug that passed SLUG_PATTERN, later quoted as an identifier wherever it is used.
import { createHash } from 'node:crypto';
import { z } from 'zod';

export const SLUG_PATTERN = /^[a-z][a-z0-9-]{1,39}$/;

/** Names a slug may not take: Postgres' own databases, Silo's, and words that read as routes. */
export const RESERVED_SLUGS = new Set([
  'postgres',
  'template',
  'template0',
  'template1',
  'silo',
  'admin',
  'root',
  'system',
  'public',
  'default',
  'api',
  'www',
  'mail',
  'internal',
  'management',
  'pg',
  'information-schema',
  'me',
  'new',
]);

export const slugSchema = z
  .string()
  .regex(SLUG_PATTERN, 'must be 2-40 characters: lowercase letters, digits and hyphens, starting with a letter')
  .refine((s) => !RESERVED_SLUGS.has(s) && !s.startsWith('pg-') && !s.endsWith('-'), 'is a reserved name');

export function isValidSlug(value: string): boolean {
  return slugSchema.safeParse(value).success;
}

/** A slug from a company name: "Acme Corp." -> "acme-corp". May still need checking. */
export function slugFromName(name: string): string {
  const base = name
    .normalize('NFKD')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^[^a-z]+/, '')
    .replace(/-+$/, '')
    .slice(0, 40)
    .replace(/-+$/, '');
  return base.length >= 2 ? base : `company-${base}`.replace(/-+$/, '');
}

export interface TenantNames {
  database: string;
  role: string;
}

/**
 * A company's database and role names: opaque, so that nothing in the catalogs every role can read
 * (pg_database, pg_roles, pg_stat_activity, ...) names a company. They are derived from the
 * company's id (random, and never shown to other companies) through SHA-256, so they do not even
 * show the id. After the prefix comes a digit, which no slug starts with, so these names never
 * meet the slug-based names that companies made before them had (docs/security-database.md).
 */
export function tenantNames(prefix: string, company: { id: string }): TenantNames {
  const name = `${prefix}_0${createHash('sha256').update(company.id).digest('hex').slice(0, 24)}`;
  return { database: name, role: name };
}

/** The names companies made before opaque names had: the slug, "-" as "_" (slugs hold no "_"). */
export function legacyTenantNames(prefix: string, slug: string): TenantNames {
  const name = `${prefix}_${slug.replaceAll('-', '_')}`;
  return { database: name, role: name };
}

/** The template's names use a double underscore, which no tenant name can have. */
export function templateNames(prefix: string) {
  return { database: `${prefix}__template`, owner: `${prefix}__template_owner` };
}

/**
 * The shared reference database (docs/shared-data.md): a double underscore like the template's, so
 * that nothing which looks for tenant databases (reconcile, connection limits) takes it for one.
 */
export function sharedDatabaseName(prefix: string): string {
  return `${prefix}__shared`;
}

/** LIKE patterns that match this installation's tenant names but not its template's. */
export function tenantNamePattern(prefix: string): { like: string; notLike: string } {
  return { like: `${prefix}\\_%`, notLike: `${prefix}\\_\\_%` };
}

export function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

export function quoteLiteral(value: string): string {
  return `'${value.replaceAll("'", "''")}'`;
}
