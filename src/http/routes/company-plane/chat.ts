// /api/chat/sessions: chat history. Each session belongs to the user who opened it; another
// user's session is "not found", like another company's.
import { createRoute, z } from '@hono/zod-openapi';
import type { SiloContext } from '../../../context.ts';
import { createSession, listMessages, listSessions, postMessage } from '../../../data-plane/company-plane/chat.ts';
import type { App } from '../../env.ts';
import { json, jsonBody, PageQuery, pageOf, text } from '../../schemas.ts';
import { companyRoute, IdParam } from './common.ts';

const SessionSchema = z
  .object({ id: z.string().uuid(), title: z.string().nullable(), createdAt: z.string(), updatedAt: z.string() })
  .openapi('ChatSession');

const MessageSchema = z
  .object({
    id: z.string().uuid(),
    sessionId: z.string().uuid(),
    role: z.enum(['user', 'assistant', 'system']),
    content: z.string(),
    createdAt: z.string(),
  })
  .openapi('ChatMessage');

const CreateSessionBody = z.object({ title: text(500).optional() }).openapi('CreateChatSessionRequest');

// The body limit (1 MB by default) bounds the content.
const PostMessageBody = z
  .object({ role: z.enum(['user', 'assistant', 'system']), content: text(Number.MAX_SAFE_INTEGER, { trim: false }) })
  .openapi('PostChatMessageRequest');

export function registerChatRoutes(app: App, ctx: SiloContext) {
  const common = companyRoute(ctx, 'chat');

  app.openapi(
    createRoute({
      ...common,
      method: 'post',
      path: '/api/chat/sessions',
      operationId: 'createChatSession',
      summary: 'Open a chat session of your own',
      request: { body: jsonBody(CreateSessionBody) },
      responses: { 201: json(SessionSchema, 'The session') },
    }),
    async (c) => c.json(await createSession(c.get('tenant').db, c.get('auth').sub, c.req.valid('json')), 201),
  );

  app.openapi(
    createRoute({
      ...common,
      method: 'get',
      path: '/api/chat/sessions',
      operationId: 'listChatSessions',
      summary: 'Your chat sessions, newest first',
      request: { query: PageQuery },
      responses: { 200: json(pageOf(SessionSchema), 'A page') },
    }),
    async (c) => c.json(await listSessions(c.get('tenant').db, c.get('auth').sub, c.req.valid('query')), 200),
  );

  app.openapi(
    createRoute({
      ...common,
      method: 'get',
      path: '/api/chat/sessions/{id}/messages',
      operationId: 'listChatMessages',
      summary: "A session's messages, oldest first",
      request: { params: IdParam, query: PageQuery },
      responses: { 200: json(pageOf(MessageSchema), 'A page') },
    }),
    async (c) => c.json(await listMessages(c.get('tenant').db, c.get('auth').sub, c.req.valid('param').id, c.req.valid('query')), 200),
  );

  app.openapi(
    createRoute({
      ...common,
      method: 'post',
      path: '/api/chat/sessions/{id}/messages',
      operationId: 'createChatMessage',
      summary: 'Add a message to one of your sessions',
      request: { params: IdParam, body: jsonBody(PostMessageBody) },
      responses: { 201: json(MessageSchema, 'The message') },
    }),
    async (c) => c.json(await postMessage(c.get('tenant').db, c.get('auth').sub, c.req.valid('param').id, c.req.valid('json')), 201),
  );
}
