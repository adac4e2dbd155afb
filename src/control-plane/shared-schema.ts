// The shared reference database: data every company reads and none writes (docs/shared-data.md).
// It sits next to the management database, on the management server, with migrations of its own:
// `npm run db:generate:shared` writes migrations/shared; every start applies them.
import { sql } from 'drizzle-orm';
import { pgTable, text, timestamp } from 'drizzle-orm/pg-core';

// Millisecond precision: JavaScript dates carry no more.
const createdAt = () => timestamp('created_at', { withTimezone: true, precision: 3 }).notNull().defaultNow();
const updatedAt = () => timestamp('updated_at', { withTimezone: true, precision: 3 }).notNull().defaultNow();

/** A document template's columns (a company's own templates have the same: src/data-plane/schema.ts). */
const templateColumns = () => ({
  key: text('key').primaryKey(),
  title: text('title').notNull(),
  content: text('content').notNull(),
  tags: text('tags').array().notNull().default(sql`'{}'::text[]`),
  createdAt: createdAt(),
  updatedAt: updatedAt(),
});

/** Document templates offered to every company; a company's own template with the same key wins. */
export const sharedTemplates = pgTable('shared_templates', templateColumns());
