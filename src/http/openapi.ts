// What /openapi.json says beyond each route's own declaration: the document's header (servers,
// licence) and the error answers that every route of a kind can give. Those are added here, in one
// place, from what a route declares (a token, path parameters, a body), rather than repeated in
// every createRoute, so a new route declares them by being what it is. A route still declares
// the answers only it gives (409, 429, ...) itself; its own declaration wins over these.
import type { RouteConfig } from '@hono/zod-openapi';
import type { App } from './env.ts';
import { errors } from './schemas.ts';

type Responses = RouteConfig['responses'];

/** The error answers a route can give because of its kind. Every rule names the code that answers it. */
function commonErrors(route: RouteConfig): Responses {
  const request = route.request ?? {};
  const takesInput = Boolean(request.params || request.query || request.headers || request.body);
  const isApi = route.path.startsWith('/api/');
  const needsToken = (route.security ?? []).length > 0;
  return {
    // The defaultHook: a path parameter, query, header or body that fails its schema.
    ...(takesInput ? { 400: errors[400] } : {}),
    // requireAuth: no token or a bad one; the role may not, or the company is suspended.
    ...(needsToken ? { 401: errors[401], 403: errors[403] } : {}),
    // A path parameter names something: one the caller cannot see is not found.
    ...(request.params ? { 404: errors[404] } : {}),
    // The body limit applies to every request to /api that may carry a body.
    ...(isApi && route.method !== 'get' && route.method !== 'head' ? { 413: errors[413] } : {}),
    // @hono/zod-openapi refuses a body in another content type than the route declares.
    ...(request.body ? { 415: errors[415] } : {}),
    // Everything under /api reads the management database, a company's, or both.
    ...(isApi ? { 503: errors[503] } : {}),
  };
}

/** Adds the common error answers to every route registered on `app`; call once all are. */
export function declareCommonErrors(app: App) {
  for (const definition of app.openAPIRegistry.definitions) {
    if (definition.type !== 'route') continue;
    const { route } = definition;
    // Numeric keys keep their numeric order, so the statuses read in order in the document.
    route.responses = { ...commonErrors(route), ...route.responses };
  }
}

/** The document's header. The server is the one that serves the document, wherever it runs. */
export const documentConfig = {
  openapi: '3.1.0',
  info: {
    title: 'Silo',
    version: '0.1.0',
    description: 'Database-per-tenant service for PostgreSQL',
    // package.json is private and names no licence: npm's word for that is UNLICENSED.
    license: { name: 'UNLICENSED' },
  },
  servers: [{ url: '/', description: 'The Silo that serves this document' }],
};
