// Schemas shared by several routes. They validate requests and generate /openapi.json.
import { z } from '@hono/zod-openapi';
import { companyStatuses, providers, serverPlacements, serverStatuses } from '../control-plane/schema.ts';
import { type ErrorCode, errorStatus } from '../base/errors.ts';
import { templateContentSchema, templateKeySchema } from '../base/template-rules.ts';

export const ErrorSchema = z
  .object({
    error: z.object({
      code: z.enum(Object.keys(errorStatus) as [ErrorCode, ...ErrorCode[]]).openapi({ example: 'validation_failed' }),
      message: z.string(),
      details: z.any().optional(),
    }),
  })
  .openapi('Error');

const errorResponse = (description: string) => ({ content: { 'application/json': { schema: ErrorSchema } }, description });

/** 429 and 503 say when to try again, when Silo knows. */
const retryable = (description: string) => ({
  ...errorResponse(description),
  headers: z.object({ 'Retry-After': z.string().optional().openapi({ description: 'Seconds to wait before trying again' }) }),
});

export const errors = {
  400: errorResponse('The request failed validation'),
  401: errorResponse('No token, or a bad or expired one'),
  403: errorResponse('The role may not do this'),
  404: errorResponse('No such resource'),
  409: errorResponse('Conflict with the current state'),
  413: errorResponse('Body over the configured limit'),
  415: errorResponse('A body in a content type that the operation does not take'),
  416: errorResponse('Range asks for no byte of the file (Content-Range says its size)'),
  429: retryable('Too many attempts; Retry-After says when to try again'),
  503: retryable('A database the request needs cannot be reached, or a write is held while the company moves'),
} as const;

export const jsonBody = <T extends z.ZodType>(schema: T) => ({
  required: true,
  content: { 'application/json': { schema } },
});

export const json = <T extends z.ZodType>(schema: T, description: string) => ({
  content: { 'application/json': { schema } },
  description,
});

// PostgreSQL text and jsonb cannot hold NUL: every text field refuses it here (400) rather than
// failing in the database (500).
const noNul = (value: string) => !value.includes('\u0000');
const nulMessage = 'must not contain NUL characters';

/** Text a client writes: NUL-free, at most `max` characters (and at least one after trimming, unless `empty`). */
export const text = (max: number, options: { trim?: boolean; empty?: boolean } = {}) => {
  const base = options.trim === false ? z.string() : z.string().trim();
  return (options.empty ? base : base.min(1)).max(max).refine(noNul, nulMessage);
};

/** How deeply a client's JSON value may nest (objects and arrays); deeper answers 400. */
export const MAX_JSON_DEPTH = 64;

/** A JSON object whose keys and strings hold no NUL, nested at most MAX_JSON_DEPTH deep. */
export const jsonObject = () =>
  z.record(z.string(), z.unknown()).superRefine((value, check) => {
    const problem = jsonProblem(value);
    if (problem) check.addIssue({ code: 'custom', message: problem });
  });

/**
 * What is wrong with a parsed JSON value, if anything. Walked with a stack of its own rather than
 * by recursion: a body nested thousands deep must answer 400, not overflow the call stack (500).
 */
function jsonProblem(root: unknown): string | undefined {
  const pending: { value: unknown; depth: number }[] = [{ value: root, depth: 1 }];
  for (let next = pending.pop(); next; next = pending.pop()) {
    const { value, depth } = next;
    if (typeof value === 'string') {
      if (!noNul(value)) return nulMessage;
    } else if (value !== null && typeof value === 'object') {
      if (depth > MAX_JSON_DEPTH) return `must not nest deeper than ${MAX_JSON_DEPTH} levels`;
      for (const [key, inner] of Object.entries(value)) {
        if (!noNul(key)) return nulMessage;
        pending.push({ value: inner, depth: depth + 1 });
      }
    }
  }
  return undefined;
}

/** A page of items, as every list answers. */
export const pageOf = <T extends z.ZodType>(item: T) => z.object({ items: z.array(item), nextCursor: z.string().nullable() });

export const CompanyParam = z.object({
  company: z
    .string()
    .min(1)
    .max(64)
    .openapi({ param: { name: 'company', in: 'path' }, example: 'acme' }),
});

export const PageQuery = z.object({
  limit: z.coerce.number().int().min(1).max(200).default(50),
  cursor: z.string().max(500).optional(),
});

/** `maxStorageBytes` on a company's create and update (docs/files.md); null: no limit. */
export const MaxStorageBytesSchema = z
  .number()
  .int()
  .min(0)
  .max(Number.MAX_SAFE_INTEGER)
  .nullable()
  .openapi({ description: 'The most bytes of document files the company may store; null: no limit' });

/** `backupSchedule` on a company's create and update (docs/backups.md); null turns it off. */
export const BackupScheduleSchema = z
  .object({
    everyHours: z
      .number()
      .int()
      .min(1)
      .max(24 * 366),
    keep: z.number().int().min(1).max(1000),
  })
  .openapi('BackupSchedule', { description: 'A backup every everyHours hours; the newest keep scheduled ones are kept' });

export const CompanySchema = z
  .object({
    id: z.string().uuid(),
    slug: z.string(),
    name: z.string(),
    status: z.enum(companyStatuses),
    maxUsers: z.number().int().nullable(),
    maxStorageBytes: z.number().int().nullable(),
    features: z.record(z.string(), z.unknown()),
    serverId: z.string().uuid().nullable(),
    provider: z.enum(providers),
    database: z.string().nullable(),
    schemaVersion: z.string().nullable(),
    migrationError: z.string().nullable(),
    migratedAt: z.string().nullable(),
    lastError: z.string().nullable(),
    createdAt: z.string(),
    updatedAt: z.string(),
    deletedAt: z.string().nullable(),
    backupSchedule: BackupScheduleSchema.nullable(),
  })
  .openapi('Company');

export const ServerSchema = z
  .object({
    id: z.string().uuid(),
    name: z.string(),
    provider: z.enum(providers),
    host: z.string(),
    status: z.enum(serverStatuses),
    placement: z
      .enum(serverPlacements)
      .openapi({ description: 'automatic: ordinary sign-ups may land here; manual: only companies that name it' }),
    capacity: z.number().int(),
    companies: z.number().int(),
    templateVersion: z.string().nullable(),
    reachable: z.boolean().optional(),
    createdAt: z.string(),
  })
  .openapi('DatabaseServer');

export const bearer = [{ bearer: [] }];

/** `:key` of a document template, shared or a company's (src/base/template-rules.ts). */
export const TemplateKeyParam = z.object({
  // A copy made here carries .openapi(): base/ schemas are made before @hono/zod-openapi extends zod.
  key: templateKeySchema.clone().openapi({ param: { name: 'key', in: 'path' }, example: 'meeting-notes' }),
});

/** A whole template's fields, as a system admin creates a shared one or a company admin puts its own. */
export const TemplateContentBody = templateContentSchema.clone().openapi('TemplateContent');

export const TemplateSchema = z
  .object({
    key: z.string(),
    title: z.string(),
    content: z.string(),
    tags: z.array(z.string()),
    createdAt: z.string(),
    updatedAt: z.string(),
  })
  .openapi('Template');
