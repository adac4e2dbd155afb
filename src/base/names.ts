// Company slugs and the database and role names derived from them. Names cannot be bound as query
// parameters, so they come only from here: a slug that passed SLUG_PATTERN, behind the installation's
// prefix, later quoted as an identifier wherever it is used.
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

/** Slugs hold no underscore, so mapping "-" to "_" keeps names distinct. */
export function tenantNames(prefix: string, slug: string): TenantNames {
  const name = `${prefix}_${slug.replaceAll('-', '_')}`;
  return { database: name, role: name };
}

/** The template's names use a double underscore, which no tenant name can have. */
export function templateNames(prefix: string) {
  return { database: `${prefix}__template`, owner: `${prefix}__template_owner` };
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
