// POST /api/companies: provisions a company and answers when its database is ready.
import { createRoute, z } from '@hono/zod-openapi';
import { passwordSchema } from '../../../base/auth/password-rule.ts';
import type { SiloContext } from '../../../context.ts';
import { slugSchema } from '../../../base/names.ts';
import { provisionCompany } from '../../../operations/provisioning/provision-company.ts';
import { toCompanyView } from '../../../control-plane/company-records.ts';
import { actorOf, type App } from '../../env.ts';
import { requireAuth } from '../../middleware/auth.ts';
import { bearer, CompanySchema, errors, json, jsonBody, jsonObject, text } from '../../schemas.ts';
import { DATABASE_URL_PATTERN, DATABASE_URL_RULE, isDatabaseUrl, POSTGRES_URL_MAX_LENGTH } from '../../../base/db/postgres-url.ts';

const CreateCompanyBody = z
  .object({
    name: text(200),
    slug: slugSchema.optional().openapi({ example: 'acme' }),
    admin: z.object({
      email: z.email().max(320),
      password: passwordSchema.optional(),
      name: text(200).optional(),
    }),
    maxUsers: z.number().int().min(1).max(1_000_000).nullable().optional(),
    features: jsonObject().optional(),
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
  .openapi('CreateCompanyRequest');

const CreatedCompany = CompanySchema.extend({
  admin: z.object({
    id: z.string(),
    email: z.string(),
    name: z.string().nullable(),
    role: z.literal('company_admin'),
    temporaryPassword: z.string().optional().openapi({ description: 'Shown once, when no password was given' }),
  }),
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
      const { company, admin } = await provisionCompany(ctx, c.req.valid('json'), actorOf(c.get('auth')));
      return c.json({ ...toCompanyView(company), admin }, 201);
    },
  );
}
