// The schema of every tenant database. Change it, then `npm run db:generate:tenant` to write a
// migration into migrations/tenant; Silo applies it to the template and to every company.
import { sql } from 'drizzle-orm';
import {
  bigint,
  boolean,
  check,
  customType,
  doublePrecision,
  index,
  integer,
  jsonb,
  pgTable,
  text,
  timestamp,
  uniqueIndex,
  uuid,
} from 'drizzle-orm/pg-core';

const tsvector = customType<{ data: string }>({ dataType: () => 'tsvector' });

// Millisecond precision: JavaScript dates carry no more, and keyset cursors compare these exactly.
const createdAt = () => timestamp('created_at', { withTimezone: true, precision: 3 }).notNull().defaultNow();
const updatedAt = () => timestamp('updated_at', { withTimezone: true, precision: 3 }).notNull().defaultNow();

// Defence in depth only: the owner of a bring-your-own database can drop these checks, so the code
// that issues tokens refuses any other role as well (src/data-plane/company-plane/company-auth.ts, invitations).
const companyRoleCheck = (name: string, role: { name: string }) =>
  check(name, sql`${sql.identifier(role.name)} in ('company_admin', 'member')`);

export const users = pgTable(
  'users',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    email: text('email').notNull(),
    name: text('name'),
    role: text('role', { enum: ['company_admin', 'member'] })
      .notNull()
      .default('member'),
    passwordHash: text('password_hash').notNull(),
    lastLoginAt: timestamp('last_login_at', { withTimezone: true }),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [uniqueIndex('users_email_key').on(sql`lower(${t.email})`), companyRoleCheck('users_role_check', t.role)],
);

export const documents = pgTable(
  'documents',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    title: text('title').notNull(),
    content: text('content').notNull(),
    tags: text('tags').array().notNull().default(sql`'{}'::text[]`),
    metadata: jsonb('metadata').$type<Record<string, unknown>>().notNull().default({}),
    // Weighted full-text search column: title ranks above content.
    search: tsvector('search')
      .notNull()
      .generatedAlwaysAs(
        sql`setweight(to_tsvector('english', coalesce("title", '')), 'A') || setweight(to_tsvector('english', coalesce("content", '')), 'B')`,
      ),
    createdBy: uuid('created_by').references(() => users.id, { onDelete: 'set null' }),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [
    index('documents_search_idx').using('gin', t.search),
    index('documents_tags_idx').using('gin', t.tags),
    index('documents_created_at_idx').on(t.createdAt, t.id),
  ],
);

export const chatSessions = pgTable(
  'chat_sessions',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    userId: uuid('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    title: text('title'),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [index('chat_sessions_user_idx').on(t.userId, t.createdAt)],
);

export const chatMessages = pgTable(
  'chat_messages',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    sessionId: uuid('session_id')
      .notNull()
      .references(() => chatSessions.id, { onDelete: 'cascade' }),
    role: text('role', { enum: ['user', 'assistant', 'system'] }).notNull(),
    content: text('content').notNull(),
    createdAt: createdAt(),
  },
  (t) => [index('chat_messages_session_idx').on(t.sessionId, t.createdAt)],
);

export const userInvitations = pgTable(
  'user_invitations',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    email: text('email').notNull(),
    role: text('role', { enum: ['company_admin', 'member'] })
      .notNull()
      .default('member'),
    // Only a hash of the invitation token is kept; the token itself is shown once.
    tokenHash: text('token_hash').notNull().unique(),
    invitedBy: uuid('invited_by').references(() => users.id, { onDelete: 'set null' }),
    expiresAt: timestamp('expires_at', { withTimezone: true }).notNull(),
    acceptedAt: timestamp('accepted_at', { withTimezone: true }),
    createdAt: createdAt(),
  },
  (t) => [index('user_invitations_email_idx').on(sql`lower(${t.email})`), companyRoleCheck('user_invitations_role_check', t.role)],
);

// The SQL console (docs/querying.md): what a company's admins ran, and the queries they saved.
// Kept in the company's own database, so they are isolated, backed up and deleted with it.
export const sqlHistory = pgTable(
  'sql_history',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    userId: uuid('user_id').references(() => users.id, { onDelete: 'set null' }),
    sql: text('sql').notNull(),
    ok: boolean('ok').notNull(),
    rowCount: integer('row_count'),
    ms: doublePrecision('ms').notNull(),
    error: text('error'),
    createdAt: createdAt(),
  },
  (t) => [index('sql_history_created_at_idx').on(t.createdAt, t.id)],
);

export const savedQueries = pgTable(
  'saved_queries',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    question: text('question').notNull(),
    sql: text('sql').notNull(),
    // Full-text search over the question (GET /api/sql/saved?q=).
    search: tsvector('search').notNull().generatedAlwaysAs(sql`to_tsvector('english', coalesce("question", ''))`),
    createdBy: uuid('created_by').references(() => users.id, { onDelete: 'set null' }),
    createdAt: createdAt(),
  },
  (t) => [index('saved_queries_search_idx').using('gin', t.search), index('saved_queries_created_at_idx').on(t.createdAt, t.id)],
);

// A document's attachments (docs/files.md): the metadata here, the bytes in the company's file
// storage under the row's id. Deleting a document deletes its rows; the bytes are removed after.
export const documentFiles = pgTable(
  'document_files',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    documentId: uuid('document_id')
      .notNull()
      .references(() => documents.id, { onDelete: 'cascade' }),
    name: text('name').notNull(),
    contentType: text('content_type').notNull(),
    size: bigint('size', { mode: 'number' }).notNull(),
    // Hex SHA-256 of the bytes, computed as they arrived; also the download's ETag.
    sha256: text('sha256').notNull(),
    createdBy: uuid('created_by').references(() => users.id, { onDelete: 'set null' }),
    createdAt: createdAt(),
  },
  (t) => [index('document_files_document_idx').on(t.documentId, t.createdAt, t.id)],
);

// Bytes held for uploads in progress, so that concurrent uploads cannot pass the company's
// maxStorageBytes together (src/data-plane/company-plane/file-quota.ts). A row not renewed for a
// while belongs to an upload that died with its instance and no longer counts.
export const fileReservations = pgTable('file_reservations', {
  id: uuid('id').primaryKey(),
  bytes: bigint('bytes', { mode: 'number' }).notNull(),
  renewedAt: timestamp('renewed_at', { withTimezone: true, precision: 3 }).notNull().defaultNow(),
});

// The company's own document templates (GET /api/templates merges them with the shared ones; one
// with a shared template's key overrides it for this company only).
// The same columns as the shared database's shared_templates (src/control-plane/shared-schema.ts),
// written out again: this file must stand alone (drizzle-kit, and copies of it, read it by itself).
export const templates = pgTable('templates', {
  key: text('key').primaryKey(),
  title: text('title').notNull(),
  content: text('content').notNull(),
  tags: text('tags').array().notNull().default(sql`'{}'::text[]`),
  createdAt: createdAt(),
  updatedAt: updatedAt(),
});
