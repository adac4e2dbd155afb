// What every company-plane route shares: a company user's token and its company's database (requireCompanyUser).
import { z } from '@hono/zod-openapi';
import type { SiloContext } from '../../../context.ts';
import { requireCompanyUser } from '../../middleware/tenant.ts';
import { bearer } from '../../schemas.ts';
import type { MiddlewareHandler } from 'hono';
import { SiloError } from '../../../base/errors.ts';
import type { AppEnv } from '../../env.ts';

/** A company-plane route's common parts; `{ adminOnly: true }` for routes that need company_admin. */
export function companyRoute(ctx: SiloContext, tag: string, options: { adminOnly?: boolean } = {}) {
  const middleware: MiddlewareHandler<AppEnv>[] = [requireCompanyUser(ctx)];
  if (options.adminOnly) middleware.push(adminOnly);
  return { tags: [tag], security: bearer, middleware };
}

/** Writes need company_admin. */
export const adminOnly: MiddlewareHandler<AppEnv> = async (c, next) => {
  if (c.get('auth').role !== 'company_admin') throw new SiloError('forbidden', 'this needs a company_admin');
  await next();
};

export const IdParam = z.object({ id: z.uuid().openapi({ param: { name: 'id', in: 'path' } }) });
