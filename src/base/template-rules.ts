// What a document template may hold, shared or a company's own: one rule for the HTTP API, the
// CLI and the services. A key names a template in URLs and in `fromTemplate`, so it is slug-like.
import { z } from 'zod';

export const TEMPLATE_KEY_PATTERN = /^[a-z][a-z0-9-]{0,62}[a-z0-9]$/;
export const TEMPLATE_KEY_RULE = '2-64 characters: lowercase letters, digits and hyphens, starting with a letter, not ending with a hyphen';
export const TEMPLATE_LIMITS = { title: 200, content: 100_000, tags: 20, tag: 50 } as const;

const noNul = (value: string) => !value.includes('\u0000');

export const templateKeySchema = z.string().regex(TEMPLATE_KEY_PATTERN, `must be ${TEMPLATE_KEY_RULE}`);

export const templateFieldSchemas = {
  title: z.string().trim().min(1).max(TEMPLATE_LIMITS.title).refine(noNul, 'must not contain NUL characters'),
  // Kept as written: leading and trailing white space may matter in a template.
  content: z.string().max(TEMPLATE_LIMITS.content).refine(noNul, 'must not contain NUL characters'),
  tags: z
    .array(z.string().trim().min(1).max(TEMPLATE_LIMITS.tag).refine(noNul, 'must not contain NUL characters'))
    .max(TEMPLATE_LIMITS.tags),
};

/** A whole template's fields (a key aside). */
export const templateContentSchema = z.object({
  title: templateFieldSchemas.title,
  content: templateFieldSchemas.content,
  tags: templateFieldSchemas.tags.default([]),
});

export interface TemplateFields {
  title: string;
  content: string;
  tags: string[];
}

export interface TemplateView extends TemplateFields {
  key: string;
  createdAt: string;
  updatedAt: string;
}

/** A template row as the database answers it: the same columns in the shared and a company's database. */
export interface TemplateRow extends TemplateFields {
  key: string;
  createdAt: Date;
  updatedAt: Date;
}

export function toTemplateView(row: TemplateRow): TemplateView {
  return {
    key: row.key,
    title: row.title,
    content: row.content,
    tags: row.tags,
    createdAt: row.createdAt.toISOString(),
    updatedAt: row.updatedAt.toISOString(),
  };
}
