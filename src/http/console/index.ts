// GET /console: the operators' web console (docs/console.md). Server-rendered pages (hono/jsx) with
// htmx for the parts that refresh in place, every asset served by Silo, a Content-Security-Policy
// without inline scripts or styles, a session cookie, and a same-origin check on every change.
// Pages call the same operations as the API (src/operations, the control-plane records).
import { Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { secureHeaders } from 'hono/secure-headers';
import { SiloError } from '../../base/errors.ts';
import type { SiloContext } from '../../context.ts';
import type { App } from '../env.ts';
import type { LoginGuardsFor } from '../routes/auth.ts';
import { registerAssets } from './assets.ts';
import { sameOriginOnly } from './csrf.ts';
import type { ConsoleEnv } from './env.ts';
import { errorPage } from './errors.tsx';
import { registerCompanyActions } from './pages/company-actions.ts';
import { registerBackupPages } from './pages/company-backups.tsx';
import { registerCompanyPage } from './pages/company.tsx';
import { registerCompaniesPage } from './pages/companies.tsx';
import { registerCreateCompanyPages } from './pages/company-new.tsx';
import { registerFleetPage } from './pages/fleet.tsx';
import { registerFleetQueryPages } from './pages/fleet-query.tsx';
import { registerLoginPages } from './pages/login.tsx';
import { registerMigrationPages } from './pages/migrations.tsx';
import { registerServerPages } from './pages/servers.tsx';
import { registerSharedTemplatePages } from './pages/shared-templates.tsx';
import { requireConsoleSession } from './session.ts';

// Scripts, styles and requests: Silo's own only. No page may be framed (clickjacking), and forms
// post only back to Silo.
const consoleHeaders = secureHeaders({
  contentSecurityPolicy: {
    defaultSrc: ["'self'"],
    scriptSrc: ["'self'"],
    styleSrc: ["'self'"],
    imgSrc: ["'self'", 'data:'],
    connectSrc: ["'self'"],
    objectSrc: ["'none'"],
    baseUri: ["'none'"],
    formAction: ["'self'"],
    frameAncestors: ["'none'"],
  },
  xFrameOptions: 'DENY',
  referrerPolicy: 'same-origin',
  // Silo may be served over plain HTTP on a private network; HSTS is the TLS terminator's call.
  strictTransportSecurity: false,
});

/** Console forms are small; a bigger body is refused before it is read. */
const CONSOLE_BODY_LIMIT = 64 * 1024;

export function registerConsole(app: App, ctx: SiloContext, guards: LoginGuardsFor) {
  const web = new Hono<ConsoleEnv>();
  web.use('*', consoleHeaders);
  web.use('*', async (c, next) => {
    // Pages show company data: no shared cache may keep them (assets set their own).
    await next();
    if (!c.res.headers.has('Cache-Control')) c.header('Cache-Control', 'no-store');
  });
  web.use(
    '*',
    bodyLimit({
      maxSize: CONSOLE_BODY_LIMIT,
      onError: () => {
        throw new SiloError('payload_too_large', `the form is over the limit of ${CONSOLE_BODY_LIMIT} bytes`);
      },
    }),
  );
  web.use('*', sameOriginOnly);
  registerAssets(web);
  registerLoginPages(web, ctx, guards);

  const session = requireConsoleSession(ctx);
  web.use('/', session);
  web.use('/companies', session);
  web.use('/companies/*', session);
  web.use('/servers', session);
  web.use('/servers/*', session);
  web.use('/migrations', session);
  web.use('/migrations/*', session);
  web.use('/fleet/*', session);
  web.use('/templates', session);
  web.use('/templates/*', session);
  registerFleetPage(web, ctx);
  registerCompaniesPage(web, ctx);
  registerCreateCompanyPages(web, ctx);
  registerCompanyPage(web, ctx);
  registerCompanyActions(web, ctx);
  registerBackupPages(web, ctx);
  registerServerPages(web, ctx);
  registerMigrationPages(web, ctx);
  registerFleetQueryPages(web, ctx);
  registerSharedTemplatePages(web, ctx);
  web.all('*', () => {
    throw new SiloError('not_found', 'there is no such console page');
  });
  web.onError((error, c) => errorPage(error, c, ctx.log));
  app.route('/console', web);
}
