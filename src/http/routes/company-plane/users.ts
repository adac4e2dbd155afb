// /api/users: a company's users. Reads for every company user, writes for company_admin.
import { passwordSchema } from '../../../base/auth/password-rule.ts';
import { revokeTokens } from '../../../control-plane/token-subjects.ts';
import { createRoute, z } from '@hono/zod-openapi';
import type { SiloContext } from '../../../context.ts';
import { createUser, deleteUser, getUser, listUsers, updateUser } from '../../../data-plane/company-plane/users.ts';
import type { App } from '../../env.ts';
import { errors, json, jsonBody, PageQuery, pageOf, text } from '../../schemas.ts';
import { companyRoute, IdParam } from './common.ts';

const role = z.enum(['company_admin', 'member']);

const UserSchema = z
  .object({
    id: z.string(),
    email: z.string(),
    name: z.string().nullable(),
    role,
    lastLoginAt: z.string().nullable(),
    createdAt: z.string(),
    updatedAt: z.string(),
  })
  .openapi('User');

const CreateUserBody = z
  .object({
    email: z.email().max(320),
    name: text(200).optional(),
    role,
    password: passwordSchema,
  })
  .openapi('CreateUserRequest');

const UpdateUserBody = z
  .object({
    name: text(200).nullable().optional(),
    role: role.optional(),
    password: passwordSchema.optional(),
  })
  .refine((b) => Object.values(b).some((v) => v !== undefined), 'give at least one field to change')
  .openapi('UpdateUserRequest');

export function registerUserRoutes(app: App, ctx: SiloContext) {
  const common = companyRoute(ctx, 'users');
  const writes = companyRoute(ctx, 'users', { adminOnly: true });

  app.openapi(
    createRoute({
      ...common,
      method: 'get',
      path: '/api/users',
      operationId: 'listUsers',
      summary: "The company's users, newest first",
      request: { query: PageQuery },
      responses: { 200: json(pageOf(UserSchema), 'A page') },
    }),
    async (c) => c.json(await listUsers(c.get('tenant').db, c.req.valid('query')), 200),
  );

  app.openapi(
    createRoute({
      ...writes,
      method: 'post',
      path: '/api/users',
      operationId: 'createUser',
      summary: 'Add a user (company_admin); maxUsers is enforced',
      request: { body: jsonBody(CreateUserBody) },
      responses: { 201: json(UserSchema, 'The user'), 409: errors[409] },
    }),
    async (c) => {
      const { company, db } = c.get('tenant');
      return c.json(await createUser(db, company.maxUsers, c.req.valid('json')), 201);
    },
  );

  app.openapi(
    createRoute({
      ...common,
      method: 'get',
      path: '/api/users/{id}',
      operationId: 'getUser',
      summary: 'One user',
      request: { params: IdParam },
      responses: { 200: json(UserSchema, 'The user') },
    }),
    async (c) => c.json(await getUser(c.get('tenant').db, c.req.valid('param').id), 200),
  );

  app.openapi(
    createRoute({
      ...writes,
      method: 'patch',
      path: '/api/users/{id}',
      operationId: 'updateUser',
      summary: 'Change a user (company_admin)',
      request: { params: IdParam, body: jsonBody(UpdateUserBody) },
      responses: { 200: json(UserSchema, 'The user'), 409: errors[409] },
    }),
    async (c) => {
      const { company, db } = c.get('tenant');
      const changes = c.req.valid('json');
      const user = await updateUser(db, c.req.valid('param').id, changes);
      // Its tokens act with the new role from the next request, in every instance.
      await ctx.tenants.userChanged(company.id, user.id);
      // A new password ends every token issued before it (after the change, so that no login with
      // the old password can come in between).
      if (changes.password !== undefined) await revokeTokens(ctx, { cid: company.id, sub: user.id });
      return c.json(user, 200);
    },
  );

  app.openapi(
    createRoute({
      ...writes,
      method: 'delete',
      path: '/api/users/{id}',
      operationId: 'deleteUser',
      summary: 'Remove a user (company_admin)',
      request: { params: IdParam },
      responses: { 204: { description: 'Removed' }, 409: errors[409] },
    }),
    async (c) => {
      const { company, db } = c.get('tenant');
      await deleteUser(db, c.req.valid('param').id);
      // Its tokens stop working from the next request, in every instance.
      await ctx.tenants.userChanged(company.id, c.req.valid('param').id);
      return c.body(null, 204);
    },
  );
}
