// The shared document templates, in the shared reference database: system admins write them (the
// API's /api/shared/templates, `silo shared templates`); every company reads them merged with its
// own (src/data-plane/company-plane/templates.ts).
import { asc, eq, gt, sql } from 'drizzle-orm';
import { conflict, notFound, pgCode } from '../base/errors.ts';
import { decodeKeyCursor, type Page, type PageRequest, toKeyPage } from '../base/pagination.ts';
import { TEMPLATE_KEY_PATTERN, type TemplateFields, type TemplateRow, type TemplateView, toTemplateView } from '../base/template-rules.ts';
import type { SharedDb } from './shared-db.ts';
import { sharedTemplates } from './shared-schema.ts';

const UNIQUE_VIOLATION = '23505';

/** Up to `limit` shared templates whose key comes after `after`, in key order. */
export async function sharedTemplatesAfter(db: SharedDb, after: string | undefined, limit: number): Promise<TemplateRow[]> {
  return db
    .select()
    .from(sharedTemplates)
    .where(after === undefined ? undefined : gt(sharedTemplates.key, after))
    .orderBy(asc(sharedTemplates.key))
    .limit(limit);
}

export async function listSharedTemplates(db: SharedDb, page: PageRequest): Promise<Page<TemplateView>> {
  const after = page.cursor ? decodeKeyCursor(page.cursor, TEMPLATE_KEY_PATTERN) : undefined;
  return toKeyPage(await sharedTemplatesAfter(db, after, page.limit + 1), page.limit, toTemplateView);
}

export async function findSharedTemplate(db: SharedDb, key: string): Promise<TemplateRow | undefined> {
  const [row] = await db.select().from(sharedTemplates).where(eq(sharedTemplates.key, key));
  return row;
}

export async function createSharedTemplate(db: SharedDb, key: string, fields: TemplateFields): Promise<TemplateView> {
  try {
    const [row] = await db
      .insert(sharedTemplates)
      .values({ key, ...fields })
      .returning();
    return toTemplateView(row!);
  } catch (error) {
    if (pgCode(error) === UNIQUE_VIOLATION) throw conflict(`a shared template with the key "${key}" already exists`);
    throw error;
  }
}

/** Changes the fields given; `tags` is replaced whole. */
export async function updateSharedTemplate(db: SharedDb, key: string, fields: Partial<TemplateFields>): Promise<TemplateView> {
  const [row] = await db
    .update(sharedTemplates)
    .set({
      ...(fields.title !== undefined ? { title: fields.title } : {}),
      ...(fields.content !== undefined ? { content: fields.content } : {}),
      ...(fields.tags !== undefined ? { tags: fields.tags } : {}),
      updatedAt: sql`now()`,
    })
    .where(eq(sharedTemplates.key, key))
    .returning();
  if (!row) throw notFound('shared template');
  return toTemplateView(row);
}

export async function deleteSharedTemplate(db: SharedDb, key: string): Promise<void> {
  const removed = await db.delete(sharedTemplates).where(eq(sharedTemplates.key, key)).returning({ key: sharedTemplates.key });
  if (removed.length === 0) throw notFound('shared template');
}
