// POST /api/companies: provisions a company and answers when its database is ready.
import { createRoute, z } from '@hono/zod-openapi';
import { passwordSchema } from '../../../base/auth/password-rule.ts';
import type { SiloContext } from '../../../context.ts';
import { slugSchema } from '../../../base/names.ts';
import { provisionCompany } from '../../../operations/provisioning/provision-company.ts';
import { invalid } from '../../../base/errors.ts';
import { createCompanyFromBackup } from '../../../operations/backups/import.ts';
import { toCompanyView } from '../../../control-plane/company-records.ts';
import { actorOf, type App } from '../../env.ts';
import { requireAuth } from '../../middleware/auth.ts';
import {
  BackupScheduleSchema,
  bearer,
  MaxStorageBytesSchema,
  CompanySchema,
  errors,
  json,
  jsonBody,
  jsonObject,
  text,
} from '../../schemas.ts';
import { DATABASE_URL_PATTERN, DATABASE_URL_RULE, isDatabaseUrl, POSTGRES_URL_MAX_LENGTH } from '../../../base/db/postgres-url.ts';

export const CreateCompanyBody = z
  .object({
    name: text(200),
    slug: slugSchema.optional().openapi({ example: 'acme' }),
    admin: z
      .object({
        email: z.email().max(320),
        password: passwordSchema.optional(),
        name: text(200).optional(),
      })
      .optional()
      .openapi({ description: 'The first company admin; required unless fromBackup is given' }),
    fromBackup: z
      .object({ company: z.string().min(1).max(64), backupId: z.uuid() })
      .optional()
      .openapi({ description: "A new company holding another company's backup (its users, with their passwords); no admin then" }),
    maxUsers: z.number().int().min(1).max(1_000_000).nullable().optional(),
    maxStorageBytes: MaxStorageBytesSchema.optional(),
    features: jsonObject().optional(),
    backupSchedule: BackupScheduleSchema.nullable().optional(),
    serverId: z.uuid().optional(),
    externalDatabaseUrl: z
      .string()
      .max(POSTGRES_URL_MAX_LENGTH)
      .regex(DATABASE_URL_PATTERN, DATABASE_URL_RULE)
      .refine(isDatabaseUrl, DATABASE_URL_RULE)
      .optional()
      .openapi({
        description: 'Bring your own: a database someone else created, as the login Silo is to use. Stored encrypted, never shown.',
      }),
  })
  .refine((body) => (body.admin === undefined) !== (body.fromBackup === undefined), {
    message: 'give either admin or fromBackup',
    path: ['admin'],
  })
  .openapi('CreateCompanyRequest');

const CreatedCompany = CompanySchema.extend({
  admin: z
    .object({
      id: z.string(),
      email: z.string(),
      name: z.string().nullable(),
      role: z.literal('company_admin'),
      temporaryPassword: z.string().optional().openapi({ description: 'Shown once, when no password was given' }),
    })
    .optional()
    .openapi({ description: 'Absent for a company made from a backup' }),
}).openapi('CreatedCompany');

export function registerCreateCompany(app: App, ctx: SiloContext) {
  app.openapi(
    createRoute({
      method: 'post',
      path: '/api/companies',
      operationId: 'createCompany',
      tags: ['companies'],
      summary: 'Create a company with its own database and first admin',
      security: bearer,
      middleware: [requireAuth(ctx, ['system_admin'])] as const,
      request: { body: jsonBody(CreateCompanyBody) },
      responses: {
        201: json(CreatedCompany, 'The company, active'),
        409: errors[409],
      },
    }),
    async (c) => {
      const { admin, fromBackup, ...input } = c.req.valid('json');
      const actor = actorOf(c.get('auth'));
      if (fromBackup) {
        if (!input.slug) throw invalid('a company from a backup needs its slug', [{ path: 'slug', message: 'required with fromBackup' }]);
        if (input.externalDatabaseUrl !== undefined) {
          throw invalid('a company from a backup is made on a postgres server Silo administers, not an external database', [
            { path: 'externalDatabaseUrl', message: 'not with fromBackup' },
          ]);
        }
        const { externalDatabaseUrl: _, slug, ...settings } = input;
        const options = { ...settings, slug };
        return c.json(toCompanyView(await createCompanyFromBackup(ctx, options, fromBackup, actor)), 201);
      }
      const created = await provisionCompany(ctx, { ...input, admin: admin! }, actor);
      return c.json({ ...toCompanyView(created.company), admin: created.admin }, 201);
    },
  );
}
