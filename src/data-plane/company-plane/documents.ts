// A company's documents, in its own database: any company user reads and writes them. Full-text
// search runs on the generated, weighted `search` column (title above content), which is never
// returned.
import { and, eq, sql, type SQL } from 'drizzle-orm';
import { notFound, pgCode, SiloError } from '../../base/errors.ts';
import { keyset, toPage, type Page, type PageRequest } from '../../base/pagination.ts';
import type { TenantDb } from '../pool-map.ts';
import { preparedSelect } from '../prepared.ts';
import { documents } from '../schema.ts';

export interface DocumentView {
  id: string;
  title: string;
  content: string;
  tags: string[];
  metadata: Record<string, unknown>;
  createdBy: string | null;
  createdAt: string;
  updatedAt: string;
}

export interface DocumentInput {
  title: string;
  content: string;
  tags?: string[] | undefined;
  metadata?: Record<string, unknown> | undefined;
}

// Every column but `search`.
const columns = {
  id: documents.id,
  title: documents.title,
  content: documents.content,
  tags: documents.tags,
  metadata: documents.metadata,
  createdBy: documents.createdBy,
  createdAt: documents.createdAt,
  updatedAt: documents.updatedAt,
};

type DocumentRow = Omit<DocumentView, 'createdAt' | 'updatedAt'> & { createdAt: Date; updatedAt: Date };

function toDocumentView(row: DocumentRow): DocumentView {
  return {
    id: row.id,
    title: row.title,
    content: row.content,
    tags: row.tags,
    metadata: row.metadata,
    createdBy: row.createdBy,
    createdAt: row.createdAt.toISOString(),
    updatedAt: row.updatedAt.toISOString(),
  };
}

/**
 * Newest first; with `q`, the best matches first (ts_rank, then recency). Both orders page by
 * keyset: a search's cursor carries the rank of the last match shown, so the next page starts
 * right after it even when documents are added in between.
 */
export async function listDocuments(
  db: TenantDb,
  query: PageRequest & { q?: string | undefined; tag?: string | undefined },
): Promise<Page<DocumentView>> {
  const q = query.q?.trim() || undefined;
  const tsquery = q ? sql`websearch_to_tsquery('english', ${q})` : undefined;
  const rank = tsquery ? sql<number>`ts_rank(${documents.search}, ${tsquery})::float8` : undefined;
  const page = keyset({ ...(rank ? { rank } : {}), createdAt: documents.createdAt, id: documents.id }, query);
  const filters: (SQL | undefined)[] = [
    tsquery ? sql`${documents.search} @@ ${tsquery}` : undefined,
    query.tag ? sql`${documents.tags} @> array[${query.tag}]::text[]` : undefined,
    page.where,
  ];
  const rows = await db
    .select({ ...columns, ...(rank ? { rank } : {}) })
    .from(documents)
    .where(and(...filters))
    .orderBy(...page.orderBy)
    .limit(page.limit);
  return toPage(rows, query.limit, toDocumentView);
}

export async function createDocument(db: TenantDb, createdBy: string, input: DocumentInput): Promise<DocumentView> {
  try {
    const [row] = await db
      .insert(documents)
      .values({ title: input.title, content: input.content, tags: input.tags ?? [], metadata: input.metadata ?? {}, createdBy })
      .returning(columns);
    return toDocumentView(row!);
  } catch (error) {
    // created_by references users: a token that outlived its user.
    if (pgCode(error) === '23503') throw new SiloError('unauthorized', 'the user of this token no longer exists');
    throw error;
  }
}

const documentById = preparedSelect(columns, (db) =>
  db
    .select(columns)
    .from(documents)
    .where(eq(documents.id, sql.placeholder('id')))
    .prepare('silo_document_by_id'),
);

export async function getDocument(db: TenantDb, id: string): Promise<DocumentView> {
  const [row] = await documentById(db, { id });
  if (!row) throw notFound('document');
  return toDocumentView(row);
}

/** Changes the fields given; `tags` and `metadata` are replaced whole, not merged. */
export async function updateDocument(db: TenantDb, id: string, input: Partial<DocumentInput>): Promise<DocumentView> {
  const [row] = await db
    .update(documents)
    .set({
      ...(input.title !== undefined ? { title: input.title } : {}),
      ...(input.content !== undefined ? { content: input.content } : {}),
      ...(input.tags !== undefined ? { tags: input.tags } : {}),
      ...(input.metadata !== undefined ? { metadata: input.metadata } : {}),
      updatedAt: sql`now()`,
    })
    .where(eq(documents.id, id))
    .returning(columns);
  if (!row) throw notFound('document');
  return toDocumentView(row);
}
