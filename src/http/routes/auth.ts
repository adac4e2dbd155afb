// POST /api/auth/login, POST /api/auth/token (OAuth2 password grant), GET /api/auth/me.
import { createRoute, z } from '@hono/zod-openapi';
import type { SiloContext } from '../../context.ts';
import { SiloError } from '../../base/errors.ts';
import { eq } from 'drizzle-orm';
import type { Context } from 'hono';
import { LoginGate } from '../../base/auth/login-gate.ts';
import { LoginLimiter } from '../../base/auth/login-limiter.ts';
import { revokeTokens } from '../../control-plane/token-subjects.ts';
import { findCompany } from '../../control-plane/company-records.ts';
import type { CompanyRecord } from '../../data-plane/tenants.ts';
import { authenticateCompanyUser } from '../../data-plane/company-plane/company-auth.ts';
import { authenticateSystemAdmin, getSystemAdmin } from '../../control-plane/system-users.ts';
import { users } from '../../data-plane/schema.ts';
import { addressBucket, clientAddress } from '../client-address.ts';
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

/** On every answer that holds a token (or an invitation's secret): no cache may keep it (RFC 6749 5.1). */
export const tokenResponseHeaders = { 'Cache-Control': 'no-store', Pragma: 'no-cache' } as const;

const invalidCredentials = () => new SiloError('invalid_credentials', 'the email, password or company is not right');

interface LoginGuards {
  limiter: LoginLimiter;
  gate: LoginGate;
  /** The client's address bucket (addressBucket()). */
  address: string;
}

/**
 * One login for both kinds of user; `company` picks a company user. Each attempt counts, per
 * account and per client address, before its password is checked; past a limit the answer is 429
 * with no password check. The account is the company's id (however the client named the company)
 * and the email in lower case.
 */
async function logIn(
  ctx: SiloContext,
  { limiter, gate, address }: LoginGuards,
  { email, password, company: companyRef }: { email: string; password: string; company?: string | undefined },
) {
  const leave = gate.enter();
  let leaveCompany: (() => void) | undefined;
  try {
    const company = companyRef === undefined ? undefined : await findCompany(ctx, companyRef);
    if (company) leaveCompany = gate.enterCompany(company.id);
    const companyKey = companyRef === undefined ? '' : (company?.id ?? `unknown:${companyRef.toLowerCase()}`);
    const account = `${companyKey}/${email.toLowerCase()}`;
    limiter.countAttempt(account, address);
    try {
      const result =
        companyRef === undefined ? await logInSystemAdmin(ctx, email, password) : await logInCompanyUser(ctx, company, email, password);
      limiter.succeeded(account, address);
      return result;
    } catch (error) {
      // The right password for a suspended company or a refused role: not a guess.
      if (error instanceof SiloError && (error.code === 'company_suspended' || error.code === 'forbidden'))
        limiter.succeeded(account, address);
      throw error;
    }
  } finally {
    leaveCompany?.();
    leave();
  }
}

async function logInCompanyUser(ctx: SiloContext, company: CompanyRecord | undefined, email: string, password: string) {
  const found = await authenticateCompanyUser(ctx, company, email, password);
  if (!found) throw invalidCredentials();
  const issued = await ctx.tokens.issue({ sub: found.user.id, role: found.user.role, cid: found.company.id });
  return {
    issued,
    user: found.user,
    company: { id: found.company.id, slug: found.company.slug, name: found.company.name },
  };
}

async function logInSystemAdmin(ctx: SiloContext, email: string, password: string) {
  const admin = await authenticateSystemAdmin(ctx, email, password);
  if (!admin) throw invalidCredentials();
  const issued = await ctx.tokens.issue({ sub: admin.id, role: 'system_admin' });
  return { issued, user: { id: admin.id, email: admin.email, name: admin.name, role: 'system_admin' as const }, company: null };
}

export function registerAuthRoutes(app: App, ctx: SiloContext) {
  const limiter = new LoginLimiter(ctx.config.login);
  const gate = new LoginGate(ctx.config.loginConcurrency);
  const guards = (c: Context): LoginGuards => ({ limiter, gate, address: addressBucket(clientAddress(c, ctx.config)) });
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
      const result = await logIn(ctx, guards(c), c.req.valid('json'));
      return c.json(
        {
          token: result.issued.token,
          tokenType: 'Bearer' as const,
          expiresAt: result.issued.expiresAt.toISOString(),
          user: result.user,
          company: result.company,
        },
        200,
        tokenResponseHeaders,
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
        403: errors[403],
        429: errors[429],
        503: errors[503],
      },
    }),
    async (c) => {
      const form = c.req.valid('form');
      const result = await logIn(ctx, guards(c), {
        email: form.username,
        password: form.password,
        company: form.company,
      });
      return c.json(
        { access_token: result.issued.token, token_type: 'bearer' as const, expires_in: result.issued.expiresIn },
        200,
        tokenResponseHeaders,
      );
    },
  );

  app.openapi(
    createRoute({
      method: 'post',
      path: '/api/auth/logout',
      operationId: 'logout',
      tags: ['auth'],
      summary: "End the caller's tokens, in every instance",
      description: 'Ends every token of the calling user issued up to now (see docs/security.md).',
      security: bearer,
      middleware: [requireAuth(ctx)] as const,
      responses: { 204: { description: 'Logged out' }, 401: errors[401] },
    }),
    async (c) => {
      await revokeTokens(ctx, c.get('auth'));
      return c.body(null, 204);
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
      middleware: [requireAuth(ctx)] as const,
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
