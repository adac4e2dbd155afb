// /api/invitations: company_admins invite people by email; an invited person accepts with the
// token alone (no login) and gets a user and a login token.
import { passwordSchema } from '../../../base/auth/password-rule.ts';
import { tokenResponseHeaders } from '../auth.ts';
import { createRoute, z } from '@hono/zod-openapi';
import type { SiloContext } from '../../../context.ts';
import { acceptInvitation, createInvitation, deleteInvitation, listInvitations } from '../../../data-plane/company-plane/invitations.ts';
import type { App } from '../../env.ts';
import { errors, json, jsonBody, PageQuery, text, pageOf } from '../../schemas.ts';
import { companyRoute, IdParam } from './common.ts';

const role = z.enum(['company_admin', 'member']);

const InvitationSchema = z
  .object({
    id: z.string().uuid(),
    email: z.string(),
    role,
    status: z.enum(['pending', 'accepted', 'expired']),
    invitedBy: z.string().uuid().nullable(),
    expiresAt: z.string(),
    acceptedAt: z.string().nullable(),
    createdAt: z.string(),
  })
  .openapi('Invitation');

const CreateInvitationBody = z.object({ email: z.email().max(320), role }).openapi('CreateInvitationRequest');

const CreatedInvitation = z
  .object({
    id: z.string().uuid(),
    token: z.string().openapi({ description: 'Shown this once; only its hash is kept' }),
    expiresAt: z.string(),
  })
  .openapi('CreatedInvitation');

const AcceptInvitationBody = z
  .object({
    token: z.string().min(1).max(200),
    password: passwordSchema,
    name: text(200).optional(),
  })
  .openapi('AcceptInvitationRequest');

const AcceptedInvitation = z
  .object({
    user: z.object({
      id: z.string().uuid(),
      email: z.string(),
      name: z.string().nullable(),
      role,
      lastLoginAt: z.string().nullable(),
      createdAt: z.string(),
      updatedAt: z.string(),
    }),
    token: z.string(),
    tokenType: z.literal('Bearer'),
    expiresAt: z.string(),
    company: z.object({ id: z.string().uuid(), slug: z.string(), name: z.string() }),
  })
  .openapi('AcceptedInvitation');

export function registerInvitationRoutes(app: App, ctx: SiloContext) {
  const adminOnlyRoute = companyRoute(ctx, 'invitations', { adminOnly: true });

  app.openapi(
    createRoute({
      ...adminOnlyRoute,
      method: 'post',
      path: '/api/invitations',
      operationId: 'createInvitation',
      summary: 'Invite someone by email (company_admin); the token is shown once',
      request: { body: jsonBody(CreateInvitationBody) },
      responses: { 201: json(CreatedInvitation, 'The invitation and its token'), 409: errors[409] },
    }),
    async (c) => {
      const { company, db } = c.get('tenant');
      return c.json(await createInvitation(db, company.id, c.get('auth').sub, c.req.valid('json')), 201, tokenResponseHeaders);
    },
  );

  app.openapi(
    createRoute({
      ...adminOnlyRoute,
      method: 'get',
      path: '/api/invitations',
      operationId: 'listInvitations',
      summary: "The company's invitations, newest first (company_admin); never their tokens",
      request: { query: PageQuery },
      responses: {
        200: json(pageOf(InvitationSchema), 'A page'),
      },
    }),
    async (c) => c.json(await listInvitations(c.get('tenant').db, c.req.valid('query')), 200),
  );

  app.openapi(
    createRoute({
      ...adminOnlyRoute,
      method: 'delete',
      path: '/api/invitations/{id}',
      operationId: 'deleteInvitation',
      summary: 'Withdraw an invitation (company_admin)',
      request: { params: IdParam },
      responses: { 204: { description: 'Removed' } },
    }),
    async (c) => {
      await deleteInvitation(c.get('tenant').db, c.req.valid('param').id);
      return c.body(null, 204);
    },
  );

  app.openapi(
    createRoute({
      method: 'post',
      path: '/api/invitations/accept',
      operationId: 'acceptInvitation',
      security: [],
      tags: ['invitations'],
      summary: 'Accept an invitation (no token needed): creates the user and logs it in',
      description:
        'An unknown, expired, used or withdrawn invitation answers 404, whatever the reason. A suspended company answers 403 ' +
        'company_suspended to a good token; a taken email 409 conflict; a full company 409 limit_exceeded.',
      request: { body: jsonBody(AcceptInvitationBody) },
      responses: {
        201: json(AcceptedInvitation, 'The new user and a login token'),
        403: errors[403],
        404: errors[404],
        409: errors[409],
      },
    }),
    async (c) => {
      const { user, issued, company } = await acceptInvitation(ctx, c.req.valid('json'));
      return c.json(
        { user, token: issued.token, tokenType: 'Bearer' as const, expiresAt: issued.expiresAt.toISOString(), company },
        201,
        tokenResponseHeaders,
      );
    },
  );
}
