// The Hono app: every route registered on one OpenAPIHono, so /openapi.json is generated from the
// same schemas that validate requests; one error handler answers API.md's error shape.
import { OpenAPIHono } from '@hono/zod-openapi';
import { bodyLimit } from 'hono/body-limit';
import { requestId } from 'hono/request-id';
import type { SiloContext } from '../context.ts';
import { SiloError } from '../errors.ts';
import { registerDocs } from './docs.ts';
import type { AppEnv } from './env.ts';
import { toErrorResponse } from './errors.ts';
import { createMetrics } from './metrics.ts';
import { registerAuthRoutes } from './routes/auth.ts';
import { registerCompanyDatabaseRoutes } from './routes/companies/company-database.ts';
import { registerCreateCompany } from './routes/companies/create-company.ts';
import { registerDeleteCompany } from './routes/companies/delete-company.ts';
import { registerMigrateCompany } from './routes/companies/migrate-company.ts';
import { registerMoveCompany } from './routes/companies/move-company.ts';
import { registerReadCompanies } from './routes/companies/read-companies.ts';
import { registerUpdateCompany } from './routes/companies/update-company.ts';
import { registerTenantHealthRoutes } from './routes/company/tenant-health.ts';
import { registerUserRoutes } from './routes/company/users.ts';
import { registerInvitationRoutes } from './routes/company/invitations.ts';
import { registerDocumentRoutes } from './routes/company/documents.ts';
import { registerChatRoutes } from './routes/company/chat.ts';
import { registerOperationRoutes } from './routes/operations.ts';
import { registerServerRoutes } from './routes/servers.ts';
import { registerSystemStatus } from './routes/system-status.ts';

export function createApp(ctx: SiloContext): OpenAPIHono<AppEnv> {
  const app = new OpenAPIHono<AppEnv>({
    defaultHook: (result) => {
      if (result.success) return;
      throw new SiloError(
        'validation_failed',
        'the request does not match its schema',
        result.error.issues.map((issue) => ({ path: [result.target, ...issue.path].join('.'), message: issue.message })),
      );
    },
  });

  const metrics = createMetrics(ctx);
  app.use('*', requestId());
  app.use('*', metrics.measure);
  app.use('*', async (c, next) => {
    const started = performance.now();
    await next();
    ctx.log.info(
      {
        requestId: c.get('requestId'),
        method: c.req.method,
        path: c.req.path,
        status: c.res.status,
        ms: Math.round((performance.now() - started) * 10) / 10,
      },
      'request',
    );
  });
  const limitBody = bodyLimit({
    maxSize: ctx.config.bodyLimitBytes,
    onError: () => {
      throw new SiloError('payload_too_large', `the body is over the limit of ${ctx.config.bodyLimitBytes} bytes`);
    },
  });
  // GET and HEAD carry no body; skipping the check spares @hono/node-server building a full
  // Request for every read (about a tenth of a warm read's CPU).
  app.use('/api/*', (c, next) => (c.req.method === 'GET' || c.req.method === 'HEAD' ? next() : limitBody(c, next)));

  app.openAPIRegistry.registerComponent('securitySchemes', 'bearer', { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' });
  registerOperationRoutes(app, ctx);
  registerAuthRoutes(app, ctx);
  registerSystemStatus(app, ctx);
  registerCreateCompany(app, ctx);
  registerReadCompanies(app, ctx);
  registerUpdateCompany(app, ctx);
  registerDeleteCompany(app, ctx);
  registerCompanyDatabaseRoutes(app, ctx);
  registerMigrateCompany(app, ctx);
  registerMoveCompany(app, ctx);
  registerServerRoutes(app, ctx);
  // The company plane: a company user's token, routed to that company's database.
  registerTenantHealthRoutes(app, ctx);
  registerUserRoutes(app, ctx);
  registerInvitationRoutes(app, ctx);
  registerDocumentRoutes(app, ctx);
  registerChatRoutes(app, ctx);

  app.doc31('/openapi.json', {
    openapi: '3.1.0',
    info: { title: 'Silo', version: '0.1.0', description: 'Database-per-tenant service for PostgreSQL' },
  });
  // Swagger UI, served with its assets from swagger-ui-dist so it works offline.
  registerDocs(app);
  app.get('/metrics', async (c) => c.body(await metrics.registry.metrics(), 200, { 'Content-Type': metrics.registry.contentType }));

  app.notFound(() => {
    throw new SiloError('not_found', 'no such route');
  });
  app.onError((error, c) => toErrorResponse(error, c, ctx.log));
  return app;
}
