// A company's document templates: the shared ones (the shared reference database) merged with the
// company's own (its `templates` table), the company's winning where both have a key. Company
// admins write their own; nobody writes the shared ones from here. Documents are made from either.
import { asc, eq, gt, sql } from 'drizzle-orm';
import { notFound } from '../../base/errors.ts';
import { decodeKeyCursor, type Page, type PageRequest, toKeyPage } from '../../base/pagination.ts';
import {
  TEMPLATE_KEY_PATTERN,
  type TemplateFields,
  type TemplateRow,
  type TemplateView,
  toTemplateView,
} from '../../base/template-rules.ts';
import type { SharedDb } from '../../control-plane/shared-db.ts';
import { findSharedTemplate, sharedTemplatesAfter } from '../../control-plane/shared-templates.ts';
import type { TenantDb } from '../pool-map.ts';
import { templates } from '../schema.ts';
import { createDocument, type DocumentView } from './documents.ts';

export type TemplateSource = 'shared' | 'company';
export type MergedTemplate = TemplateView & { source: TemplateSource };

/**
 * A page of the merged list, in key order. Each side is read from the cursor's key on, one page and
 * one row long: every key of the merged page's first limit + 1 is among those of its own side, so
 * the merge of the two reads is exactly the merged list's next rows.
 */
export async function listMergedTemplates(db: TenantDb, shared: SharedDb, page: PageRequest): Promise<Page<MergedTemplate>> {
  const after = page.cursor ? decodeKeyCursor(page.cursor, TEMPLATE_KEY_PATTERN) : undefined;
  const [own, common] = await Promise.all([
    db
      .select()
      .from(templates)
      .where(after === undefined ? undefined : gt(templates.key, after))
      .orderBy(asc(templates.key))
      .limit(page.limit + 1),
    sharedTemplatesAfter(shared, after, page.limit + 1),
  ]);
  const byKey = new Map<string, TemplateRow & { source: TemplateSource }>();
  for (const row of common) byKey.set(row.key, { ...row, source: 'shared' });
  for (const row of own) byKey.set(row.key, { ...row, source: 'company' });
  const rows = [...byKey.values()].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  return toKeyPage(rows, page.limit, (row) => ({ ...toTemplateView(row), source: row.source }));
}

const TEMPLATE_COLUMNS = {
  key: templates.key,
  title: templates.title,
  content: templates.content,
  tags: templates.tags,
  createdAt: templates.createdAt,
  updatedAt: templates.updatedAt,
};

/** Writes the company's template with this key, whole; `created` says whether it is new. */
export async function putCompanyTemplate(
  db: TenantDb,
  key: string,
  fields: TemplateFields,
): Promise<{ template: MergedTemplate; created: boolean }> {
  const [row] = await db
    .insert(templates)
    .values({ key, ...fields })
    .onConflictDoUpdate({
      target: templates.key,
      set: { title: fields.title, content: fields.content, tags: fields.tags, updatedAt: sql`now()` },
    })
    // xmax is 0 on a row version that an insert made, not an update.
    .returning({ ...TEMPLATE_COLUMNS, created: sql<boolean>`(xmax = 0)` });
  const { created, ...template } = row!;
  return { template: { ...toTemplateView(template), source: 'company' }, created };
}

/** Removes the company's own template; a shared one with the key shows again. */
export async function deleteCompanyTemplate(db: TenantDb, key: string): Promise<void> {
  const removed = await db.delete(templates).where(eq(templates.key, key)).returning({ key: templates.key });
  if (removed.length === 0) throw notFound('company template');
}

/** The template a company sees under `key`: its own, else the shared one. */
export async function resolveTemplate(db: TenantDb, shared: SharedDb, key: string): Promise<MergedTemplate> {
  const [own] = await db.select().from(templates).where(eq(templates.key, key));
  if (own) return { ...toTemplateView(own), source: 'company' };
  const common = await findSharedTemplate(shared, key);
  if (common) return { ...toTemplateView(common), source: 'shared' };
  throw notFound('template');
}

/** A new document with a template's content and tags, and its title unless `title` is given. */
export async function createDocumentFromTemplate(
  db: TenantDb,
  shared: SharedDb,
  createdBy: string,
  input: { fromTemplate: string; title?: string | undefined },
): Promise<DocumentView> {
  const template = await resolveTemplate(db, shared, input.fromTemplate);
  return createDocument(db, createdBy, {
    title: input.title ?? template.title,
    content: template.content,
    tags: template.tags,
    // Which template, and whose: the shared one may change or go later.
    metadata: { template: { key: template.key, source: template.source } },
  });
}
