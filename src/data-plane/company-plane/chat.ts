// Chat history, in the company's own database. A session belongs to the user who opened it: every
// read and write is filtered by the caller's id, so another user's session, in this company or
// any other, is "not found".
import { and, eq, max, sql } from 'drizzle-orm';
import { notFound, pgCode, SiloError } from '../../base/errors.ts';
import { keyset, toPage, type Page, type PageRequest } from '../../base/pagination.ts';
import type { TenantDb } from '../pool-map.ts';
import { chatMessages, chatSessions } from '../schema.ts';
import { inTransaction } from '../../base/db/transaction.ts';

export type MessageRole = 'user' | 'assistant' | 'system';

export interface SessionView {
  id: string;
  title: string | null;
  createdAt: string;
  updatedAt: string;
}

export interface MessageView {
  id: string;
  sessionId: string;
  role: MessageRole;
  content: string;
  createdAt: string;
}

const sessionColumns = {
  id: chatSessions.id,
  title: chatSessions.title,
  createdAt: chatSessions.createdAt,
  updatedAt: chatSessions.updatedAt,
};
const messageColumns = {
  id: chatMessages.id,
  sessionId: chatMessages.sessionId,
  role: chatMessages.role,
  content: chatMessages.content,
  createdAt: chatMessages.createdAt,
};

const toSessionView = (row: { id: string; title: string | null; createdAt: Date; updatedAt: Date }): SessionView => ({
  id: row.id,
  title: row.title,
  createdAt: row.createdAt.toISOString(),
  updatedAt: row.updatedAt.toISOString(),
});

const toMessageView = (row: { id: string; sessionId: string; role: MessageRole; content: string; createdAt: Date }): MessageView => ({
  ...row,
  createdAt: row.createdAt.toISOString(),
});

const ownSession = (userId: string, sessionId: string) => and(eq(chatSessions.id, sessionId), eq(chatSessions.userId, userId));

export async function createSession(db: TenantDb, userId: string, input: { title?: string | undefined }): Promise<SessionView> {
  try {
    const [row] = await db
      .insert(chatSessions)
      .values({ userId, title: input.title ?? null })
      .returning(sessionColumns);
    return toSessionView(row!);
  } catch (error) {
    // user_id references users: a token that outlived its user.
    if (pgCode(error) === '23503') throw new SiloError('unauthorized', 'the user of this token no longer exists');
    throw error;
  }
}

/**
 * The caller's sessions, newest opened first. Ordered by creation rather than by last activity so
 * that a session posted to while a client pages does not move between pages.
 */
export async function listSessions(db: TenantDb, userId: string, query: PageRequest): Promise<Page<SessionView>> {
  const page = keyset({ createdAt: chatSessions.createdAt, id: chatSessions.id }, query);
  const rows = await db
    .select(sessionColumns)
    .from(chatSessions)
    .where(and(eq(chatSessions.userId, userId), page.where))
    .orderBy(...page.orderBy)
    .limit(page.limit);
  return toPage(rows, query.limit, toSessionView);
}

/** A session's messages, oldest first. */
export async function listMessages(db: TenantDb, userId: string, sessionId: string, query: PageRequest): Promise<Page<MessageView>> {
  const [session] = await db.select({ id: chatSessions.id }).from(chatSessions).where(ownSession(userId, sessionId));
  if (!session) throw notFound('chat session');
  const page = keyset({ createdAt: chatMessages.createdAt, id: chatMessages.id }, query, 'asc');
  const rows = await db
    .select(messageColumns)
    .from(chatMessages)
    .where(and(eq(chatMessages.sessionId, sessionId), page.where))
    .orderBy(...page.orderBy)
    .limit(page.limit);
  return toPage(rows, query.limit, toMessageView);
}

/**
 * Adds a message and bumps the session's updated_at. Bumping first locks the session row, so the
 * posts to one session take turns, and each message is stamped at least a millisecond after the
 * one before it: created_at alone then keeps the order in which messages were posted, even for
 * posts that overlap (now() is when a transaction began, not when it got the lock).
 */
export async function postMessage(
  db: TenantDb,
  userId: string,
  sessionId: string,
  input: { role: MessageRole; content: string },
): Promise<MessageView> {
  return inTransaction(db, async (tx) => {
    const [session] = await tx
      .update(chatSessions)
      .set({ updatedAt: sql`now()` })
      .where(ownSession(userId, sessionId))
      .returning({ id: chatSessions.id });
    if (!session) throw notFound('chat session');
    const previous = tx
      .select({ at: max(chatMessages.createdAt) })
      .from(chatMessages)
      .where(eq(chatMessages.sessionId, sessionId));
    const [row] = await tx
      .insert(chatMessages)
      .values({
        sessionId,
        role: input.role,
        content: input.content,
        createdAt: sql`greatest(now(), (${previous}) + interval '1 millisecond')`,
      })
      .returning(messageColumns);
    return toMessageView(row!);
  });
}
