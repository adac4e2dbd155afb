// POST /api/auth/login, POST /api/auth/token (OAuth2 password grant), GET /api/auth/me.
import { createRoute, z } from '@hono/zod-openapi';
import type { SiloContext } from '../../context.ts';
import { SiloError } from '../../errors.ts';
import { eq } from 'drizzle-orm';
import { LoginLimiter } from '../../auth/login-limiter.ts';
import { authenticateCompanyUser } from '../../services/company-auth.ts';
import { authenticateSystemAdmin, getSystemAdmin } from '../../services/system-users.ts';
import { users } from '../../tenant/schema.ts';
import { clientAddress } from '../client-address.ts';
import type { App } from '../env.ts';
import { requireAuth } from '../middleware/auth.ts';
import { tokenCompany } from '../middleware/tenant.ts';
import { bearer, errors, json, jsonBody } from '../schemas.ts';

const UserSchema = z.object({
  id: z.string(),
  email: z.string(),
  role: z.enum(['system_admin', 'company_admin', 'member']),
  name: z.string().nullable().optional(),
});
const CompanyRefSchema = z.object({ id: z.string(), slug: z.string(), name: z.string() }).nullable();

const LoginBody = z
  .object({
    email: z.string().min(1).max(320),
    password: z.string().min(1).max(1000),
    company: z.string().min(1).max(64).optional(),
  })
  .openapi('LoginRequest');

const LoginResponse = z
  .object({
    token: z.string(),
    tokenType: z.literal('Bearer'),
    expiresAt: z.string(),
    user: UserSchema,
    company: CompanyRefSchema,
  })
  .openapi('LoginResponse');

const invalidCredentials = () => new SiloError('invalid_credentials', 'the email, password or company is not right');

/**
 * One login for both kinds of user; `company` picks a company user. Failed attempts count per
 * account and per client address; past the limit the answer is 429 before any password check.
 */
async function logIn(
  ctx: SiloContext,
  limiter: LoginLimiter,
  address: string,
  { email, password, company }: { email: string; password: string; company?: string | undefined },
) {
  const account = `${company ?? ''}/${email.toLowerCase()}`;
  limiter.check(account, address);
  try {
    const result = await authenticate(ctx, email, password, company);
    limiter.recordSuccess(account);
    return result;
  } catch (error) {
    if (error instanceof SiloError && error.code === 'invalid_credentials') limiter.recordFailure(account, address);
    throw error;
  }
}

async function authenticate(ctx: SiloContext, email: string, password: string, company?: string) {
  if (company) {
    const found = await authenticateCompanyUser(ctx, company, email, password);
    if (!found) throw invalidCredentials();
    const issued = await ctx.tokens.issue({ sub: found.user.id, role: found.user.role, cid: found.company.id });
    return {
      issued,
      user: found.user,
      company: { id: found.company.id, slug: found.company.slug, name: found.company.name },
    };
  }
  const admin = await authenticateSystemAdmin(ctx, email, password);
  if (!admin) throw invalidCredentials();
  const issued = await ctx.tokens.issue({ sub: admin.id, role: 'system_admin' });
  return { issued, user: { id: admin.id, email: admin.email, name: admin.name, role: 'system_admin' as const }, company: null };
}

export function registerAuthRoutes(app: App, ctx: SiloContext) {
  const limiter = new LoginLimiter(ctx.config.login);
  app.openapi(
    createRoute({
      method: 'post',
      path: '/api/auth/login',
      operationId: 'login',
      security: [],
      tags: ['auth'],
      summary: 'Log in; without company, as a system admin',
      request: { body: jsonBody(LoginBody) },
      responses: { 200: json(LoginResponse, 'A token'), 401: errors[401], 403: errors[403], 429: errors[429] },
    }),
    async (c) => {
      const result = await logIn(ctx, limiter, clientAddress(c, ctx.config.trustProxy), c.req.valid('json'));
      return c.json(
        {
          token: result.issued.token,
          tokenType: 'Bearer' as const,
          expiresAt: result.issued.expiresAt.toISOString(),
          user: result.user,
          company: result.company,
        },
        200,
      );
    },
  );

  app.openapi(
    createRoute({
      method: 'post',
      path: '/api/auth/token',
      operationId: 'issueToken',
      security: [],
      tags: ['auth'],
      summary: 'OAuth2 password grant (form-encoded)',
      request: {
        body: {
          required: true,
          content: {
            'application/x-www-form-urlencoded': {
              schema: z.object({
                grant_type: z.literal('password'),
                username: z.string().min(1).max(320),
                password: z.string().min(1).max(1000),
                company: z.string().min(1).max(64).optional(),
              }),
            },
          },
        },
      },
      responses: {
        200: json(z.object({ access_token: z.string(), token_type: z.literal('bearer'), expires_in: z.number() }), 'A token'),
        401: errors[401],
        429: errors[429],
      },
    }),
    async (c) => {
      const form = c.req.valid('form');
      const result = await logIn(ctx, limiter, clientAddress(c, ctx.config.trustProxy), {
        email: form.username,
        password: form.password,
        company: form.company,
      });
      return c.json({ access_token: result.issued.token, token_type: 'bearer' as const, expires_in: result.issued.expiresIn }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/api/auth/me',
      operationId: 'getMe',
      tags: ['auth'],
      summary: "The caller's user and company",
      security: bearer,
      middleware: [requireAuth(ctx.tokens)] as const,
      responses: { 200: json(z.object({ user: UserSchema, company: CompanyRefSchema }), 'The caller') },
    }),
    async (c) => {
      const auth = c.get('auth');
      if (auth.role === 'system_admin') {
        const admin = await getSystemAdmin(ctx, auth.sub);
        if (!admin) throw new SiloError('unauthorized', 'the user no longer exists');
        return c.json({ user: { id: admin.id, email: admin.email, name: admin.name, role: 'system_admin' as const }, company: null }, 200);
      }
      const company = await tokenCompany(ctx, auth);
      const [user] = await ctx.tenants.run(company, (db) =>
        db.select({ id: users.id, email: users.email, name: users.name, role: users.role }).from(users).where(eq(users.id, auth.sub)),
      );
      if (!user) throw new SiloError('unauthorized', 'the user no longer exists');
      return c.json({ user, company: { id: company.id, slug: company.slug, name: company.name } }, 200);
    },
  );
}
