// Operations without a token: / (where to go next), /health (the process), /ready (the management database).
import { createRoute, z } from '@hono/zod-openapi';
import type { SiloContext } from '../../../context.ts';
import { SiloError } from '../../../base/errors.ts';
import type { App } from '../../env.ts';
import { errors, json } from '../../schemas.ts';

const Index = z
  .object({
    service: z.literal('silo'),
    links: z.object({
      console: z.string(),
      docs: z.string(),
      openapi: z.string(),
      health: z.string(),
      ready: z.string(),
      metrics: z.string(),
    }),
  })
  .openapi('Index');

export function registerOperationRoutes(app: App, ctx: SiloContext) {
  // A person who opens the address in a browser (or curls it) learns where the reference is.
  app.openapi(
    createRoute({
      method: 'get',
      path: '/',
      operationId: 'getIndex',
      security: [],
      tags: ['operations'],
      summary: 'What this service is, with links to its reference and probes',
      responses: { 200: json(Index, 'Links') },
    }),
    (c) =>
      c.json(
        {
          service: 'silo' as const,
          links: { console: '/console', docs: '/docs', openapi: '/openapi.json', health: '/health', ready: '/ready', metrics: '/metrics' },
        },
        200,
      ),
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/health',
      operationId: 'getHealth',
      security: [],
      tags: ['operations'],
      summary: 'The process is alive (touches no database)',
      responses: { 200: json(z.object({ status: z.literal('ok') }), 'Alive') },
    }),
    (c) => c.json({ status: 'ok' as const }, 200),
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/ready',
      operationId: 'getReady',
      security: [],
      tags: ['operations'],
      summary: 'The management database answers',
      responses: { 200: json(z.object({ status: z.literal('ready') }), 'Ready'), 503: errors[503] },
    }),
    async (c) => {
      try {
        await Promise.race([ctx.sql`select 1`, new Promise((_, reject) => setTimeout(() => reject(new Error('timeout')), 2000).unref())]);
      } catch {
        throw new SiloError('unavailable', 'the management database does not answer');
      }
      return c.json({ status: 'ready' as const }, 200);
    },
  );
}
