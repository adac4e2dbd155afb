// The Hono app: every route registered on one OpenAPIHono, so /openapi.json is generated from the
// same schemas that validate requests; one error handler answers the contract's error shape (docs/http-api.md).
import type { HttpBindings } from '@hono/node-server';
import { OpenAPIHono } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import type { SiloContext } from '../context.ts';
import { SiloError } from '../base/errors.ts';
import { registerDocs } from './docs.ts';
import type { AppEnv } from './env.ts';
import { toErrorResponse } from './errors.ts';
import { createMetrics, metricsAccess } from './metrics.ts';
import { declareCommonErrors, documentConfig } from './openapi.ts';
import { createLoginGuards, registerAuthRoutes } from './routes/auth.ts';
import { registerConsole } from './console/index.ts';
import { registerCompanyDatabaseRoutes } from './routes/system-admin/company-database.ts';
import { registerCreateCompany } from './routes/system-admin/create-company.ts';
import { registerDeleteCompany } from './routes/system-admin/delete-company.ts';
import { registerMigrateCompany } from './routes/system-admin/migrate-company.ts';
import { registerMoveCompany } from './routes/system-admin/move-company.ts';
import { registerReadCompanies } from './routes/system-admin/read-companies.ts';
import { registerRotateCredentials } from './routes/system-admin/rotate-credentials.ts';
import { registerUpdateCompany } from './routes/system-admin/update-company.ts';
import { registerTenantHealthRoutes } from './routes/company-plane/tenant-health.ts';
import { registerUserRoutes } from './routes/company-plane/users.ts';
import { registerInvitationRoutes } from './routes/company-plane/invitations.ts';
import { registerDocumentRoutes } from './routes/company-plane/documents.ts';
import { registerSqlRoutes } from './routes/company-plane/sql.ts';
import { registerFleetQuery } from './routes/system-admin/fleet-query.ts';
import { registerChatRoutes } from './routes/company-plane/chat.ts';
import { FILE_UPLOAD_PATH, registerFileRoutes } from './routes/company-plane/files.ts';
import { registerOperationRoutes } from './routes/system-admin/operations.ts';
import { registerServerRoutes } from './routes/system-admin/servers.ts';
import { registerSystemStatus } from './routes/system-admin/system-status.ts';
import { registerSharedTemplateRoutes } from './routes/system-admin/shared-templates.ts';
import { registerTemplateRoutes } from './routes/company-plane/templates.ts';
import { registerBackupRoutes } from './routes/system-admin/backups.ts';
import { IMPORT_PATH, registerImportCompany } from './routes/system-admin/import-company.ts';

/** What `app.use('/api/*', ...)` would match: /api itself and everything under it. */
const isApiPath = (path: string) => path.startsWith('/api') && (path.length === 4 || path[4] === '/');

/**
 * X-Request-Id and nosniff on every answer. Served by @hono/node-server (`npm start`), they go onto
 * Node's response, which merges them into whatever the route answers: set through Hono before the
 * answer exists, any header makes Hono build a WHATWG Headers object that @hono/node-server then
 * converts back, a few microseconds of every warm read. Without a Node response (app.request() in
 * tests), through Hono.
 */
function setEveryResponseHeaders(c: Context<AppEnv>, requestId: string): void {
  const outgoing = (c.env as Partial<HttpBindings> | undefined)?.outgoing;
  if (outgoing) {
    outgoing.setHeader('X-Request-Id', requestId);
    outgoing.setHeader('X-Content-Type-Options', 'nosniff');
  } else {
    c.header('X-Request-Id', requestId);
    c.header('X-Content-Type-Options', 'nosniff');
  }
}

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
  const limitBody = bodyLimit({
    maxSize: ctx.config.bodyLimitBytes,
    onError: () => {
      throw new SiloError('payload_too_large', `the body is over the limit of ${ctx.config.bodyLimitBytes} bytes`);
    },
  });
  // The access line's fields are fixed (request id, method, path, status, milliseconds) and none
  // is one the redaction looks for, so it skips that pass, which costs more than the rest of the line.
  const accessLog = ctx.log.child({}, { redact: [] });
  // What every request gets, in one middleware rather than three (request id, latency metric,
  // access log), timed once for both the metric and the log line.
  app.use('*', async (c, next) => {
    const started = performance.now();
    // X-Request-Id: the caller's, when it is a plausible id (hono/request-id's rule), else a new one.
    const given = c.req.header('X-Request-Id');
    const id = given && given.length <= 255 && !/[^\w\-=]/.test(given) ? given : crypto.randomUUID();
    c.set('requestId', id);
    // No browser may guess another type than the one Silo says (a JSON error read as HTML).
    setEveryResponseHeaders(c, id);
    try {
      await next();
    } finally {
      metrics.observe(c, (performance.now() - started) / 1000);
    }
    // The level is checked first so that no log object is built per request when info is off.
    if (accessLog.isLevelEnabled('info')) {
      accessLog.info(
        {
          requestId: id,
          method: c.req.method,
          path: c.req.path,
          status: c.res.status,
          ms: Math.round((performance.now() - started) * 10) / 10,
        },
        'request',
      );
    }
  });
  // The body limit, for requests to /api that may carry a body. GET and HEAD carry none; skipping
  // the check spares @hono/node-server building a full Request for every read (about a tenth of a
  // warm read's CPU). Registered on every path on purpose: Hono turns an error thrown by the
  // not-found handler or the limit into a response at the middleware that called them, and that
  // must be this one, inside the one above, so that its metric and log line see the real status.
  app.use('*', (c, next) => {
    const method = c.req.method;
    // An imported archive and an uploaded file have limits of their own (SILO_IMPORT_MAX_BYTES,
    // SILO_FILE_MAX_BYTES), checked as they stream.
    const path = c.req.path;
    const ownLimit = path === IMPORT_PATH || (method === 'POST' && FILE_UPLOAD_PATH.test(path));
    return method !== 'GET' && method !== 'HEAD' && isApiPath(path) && !ownLimit ? limitBody(c, next) : next();
  });

  app.openAPIRegistry.registerComponent('securitySchemes', 'bearer', { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' });
  registerOperationRoutes(app, ctx);
  const loginGuards = createLoginGuards(ctx);
  registerAuthRoutes(app, ctx, loginGuards);
  registerSystemStatus(app, ctx);
  registerImportCompany(app, ctx);
  registerCreateCompany(app, ctx);
  registerReadCompanies(app, ctx);
  registerUpdateCompany(app, ctx);
  registerDeleteCompany(app, ctx);
  registerCompanyDatabaseRoutes(app, ctx);
  registerRotateCredentials(app, ctx);
  registerMigrateCompany(app, ctx);
  registerMoveCompany(app, ctx);
  registerBackupRoutes(app, ctx);
  registerServerRoutes(app, ctx);
  registerFleetQuery(app, ctx);
  registerSharedTemplateRoutes(app, ctx);
  // The company plane: a company user's token, routed to that company's database.
  registerTenantHealthRoutes(app, ctx);
  registerUserRoutes(app, ctx);
  registerInvitationRoutes(app, ctx);
  registerDocumentRoutes(app, ctx);
  registerTemplateRoutes(app, ctx);
  registerChatRoutes(app, ctx);
  registerSqlRoutes(app, ctx);
  registerFileRoutes(app, ctx);

  declareCommonErrors(app);
  app.doc31('/openapi.json', documentConfig);
  // Swagger UI, served with its assets from swagger-ui-dist so it works offline.
  registerDocs(app);
  // The operators' web console: HTML pages over the same operations (docs/console.md).
  registerConsole(app, ctx, loginGuards);
  app.get('/metrics', metricsAccess(ctx), async (c) =>
    c.body(await metrics.registry.metrics(), 200, { 'Content-Type': metrics.registry.contentType }),
  );

  app.notFound(() => {
    throw new SiloError('not_found', 'no such route');
  });
  app.onError((error, c) => toErrorResponse(error, c, ctx.log));
  return app;
}
