// POST /api/auth/login, POST /api/auth/token (OAuth2 password grant), POST /api/auth/logout,
// GET /api/auth/me: request and response shapes; logging in is src/operations/login.ts.
import { createRoute, z } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { LoginGate } from '../../base/auth/login-gate.ts';
import type { SiloContext } from '../../context.ts';
import { SharedLoginLimiter } from '../../control-plane/login-attempts.ts';
import { revokeTokens } from '../../control-plane/token-subjects.ts';
import { type LoginGuards, logIn, whoAmI } from '../../operations/login.ts';
import { addressBucket, clientAddress } from '../client-address.ts';
import type { App } from '../env.ts';
import { requireAuth } from '../middleware/auth.ts';
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

/** What every login of this app shares (the API's and the console's): one limiter, one gate. */
export type LoginGuardsFor = (c: Context) => LoginGuards;

export function createLoginGuards(ctx: SiloContext): LoginGuardsFor {
  const limiter = new SharedLoginLimiter(ctx.sql, ctx.config.login, ctx.log);
  const gate = new LoginGate(ctx.config.loginConcurrency);
  return (c) => ({ limiter, gate, address: addressBucket(clientAddress(c, ctx.config)) });
}

export function registerAuthRoutes(app: App, ctx: SiloContext, guards: LoginGuardsFor) {
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
      return c.json(await whoAmI(ctx, c.get('auth')), 200);
    },
  );
}
