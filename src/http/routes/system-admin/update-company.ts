// PATCH /api/companies/:company: rename, suspend or reactivate, change limits and features.
import { createRoute, z } from '@hono/zod-openapi';
import type { SiloContext } from '../../../context.ts';
import { updateCompany } from '../../../operations/companies.ts';
import { toCompanyView } from '../../../control-plane/company-records.ts';
import { actorOf, type App } from '../../env.ts';
import { requireAuth } from '../../middleware/auth.ts';
import {
  BackupScheduleSchema,
  bearer,
  MaxStorageBytesSchema,
  CompanyParam,
  CompanySchema,
  errors,
  json,
  jsonBody,
  jsonObject,
  text,
} from '../../schemas.ts';

const UpdateCompanyBody = z
  .object({
    name: text(200).optional(),
    status: z
      .enum(['active', 'suspended', 'archived'])
      .optional()
      .openapi({ description: 'archived: a verified backup is taken and the database dropped; active on an archived company restores it' }),
    maxUsers: z.number().int().min(1).max(1_000_000).nullable().optional(),
    maxStorageBytes: MaxStorageBytesSchema.optional(),
    features: jsonObject().optional(),
    backupSchedule: BackupScheduleSchema.nullable().optional(),
  })
  .refine((b) => Object.values(b).some((v) => v !== undefined), 'give at least one field to change')
  .openapi('UpdateCompanyRequest');

export function registerUpdateCompany(app: App, ctx: SiloContext) {
  app.openapi(
    createRoute({
      method: 'patch',
      path: '/api/companies/{company}',
      operationId: 'updateCompany',
      tags: ['companies'],
      summary: 'Change a company',
      security: bearer,
      middleware: [requireAuth(ctx, ['system_admin'])] as const,
      request: { params: CompanyParam, body: jsonBody(UpdateCompanyBody) },
      responses: {
        200: json(CompanySchema, 'The company'),
        409: errors[409],
      },
    }),
    async (c) => {
      const updated = await updateCompany(ctx, c.req.valid('param').company, c.req.valid('json'), actorOf(c.get('auth')));
      return c.json(toCompanyView(updated), 200);
    },
  );
}
