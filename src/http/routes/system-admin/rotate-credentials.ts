// POST /api/companies/:company/credentials/rotate: a new password for the company's database role,
// with no failed request (src/operations/credential-rotation.ts).
import { createRoute } from '@hono/zod-openapi';
import type { SiloContext } from '../../../context.ts';
import { rotateCompanyCredentials } from '../../../operations/credential-rotation.ts';
import { toCompanyView } from '../../../control-plane/company-records.ts';
import { actorOf, type App } from '../../env.ts';
import { requireAuth } from '../../middleware/auth.ts';
import { bearer, CompanyParam, CompanySchema, errors, json } from '../../schemas.ts';

export function registerRotateCredentials(app: App, ctx: SiloContext) {
  app.openapi(
    createRoute({
      method: 'post',
      path: '/api/companies/{company}/credentials/rotate',
      operationId: 'rotateCompanyCredentials',
      tags: ['companies'],
      summary: "Give the company's database role a new password",
      description:
        'The new password is set on the server and stored encrypted; pools opened with the old one drain ' +
        'rather than being cut, so no request fails. Postgres companies only: 409 for neon and external ones.',
      security: bearer,
      middleware: [requireAuth(ctx, ['system_admin'])] as const,
      request: { params: CompanyParam },
      responses: { 200: json(CompanySchema, 'The company (never its credentials)'), 409: errors[409] },
    }),
    async (c) => {
      const rotated = await rotateCompanyCredentials(ctx, c.req.valid('param').company, actorOf(c.get('auth')));
      return c.json(toCompanyView(rotated), 200);
    },
  );
}
