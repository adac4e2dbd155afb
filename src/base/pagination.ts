// Keyset pagination, the one way Silo pages through rows. Cursors are opaque to clients: inside,
// (created_at, id) with a rank first when the order is a search's, or a serial id alone for an
// append-only log. A cursor this API did not hand out answers 400, never a silent first page.
import { asc, desc, lt, sql, type SQL } from 'drizzle-orm';
import type { PgColumn } from 'drizzle-orm/pg-core';
import { invalid } from './errors.ts';

export interface Page<T> {
  items: T[];
  nextCursor: string | null;
}

export interface PageRequest {
  limit: number;
  cursor?: string | undefined;
}

const uuidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function encodeCursor(createdAt: Date, id: string, rank?: number): string {
  const key = rank === undefined ? [createdAt.toISOString(), id] : [createdAt.toISOString(), id, rank];
  return Buffer.from(JSON.stringify(key)).toString('base64url');
}

export function decodeCursor(cursor: string): { createdAt: Date; id: string; rank?: number } {
  try {
    const [createdAt, id, rank] = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as [string, string, unknown];
    const date = new Date(createdAt);
    // The id goes into a uuid comparison: anything else would be a database error, not a 400.
    if (Number.isNaN(date.getTime()) || typeof id !== 'string' || !uuidPattern.test(id)) throw new Error('bad cursor');
    if (rank === undefined) return { createdAt: date, id };
    if (typeof rank !== 'number' || !Number.isFinite(rank)) throw new Error('bad cursor');
    return { createdAt: date, id, rank };
  } catch {
    throw invalid('invalid cursor', [{ path: 'cursor', message: 'is not a cursor this API returned' }]);
  }
}

/**
 * A keyset page over (rank?, created_at, id): the condition for the rows past the cursor, the
 * order to read them in, and a limit one row over the page (toPage uses that row to tell whether
 * there is a next page). `rank`, when given, must be a float8 expression ordered descending, and
 * then only its own cursors (which carry a rank) are accepted.
 */
export function keyset(key: { rank?: SQL; createdAt: PgColumn; id: PgColumn }, page: PageRequest, order: 'asc' | 'desc' = 'desc') {
  if (key.rank && order === 'asc') throw new Error('keyset: a ranked order is descending');
  const direction = order === 'asc' ? asc : desc;
  const orderBy = [...(key.rank ? [desc(key.rank)] : []), direction(key.createdAt), direction(key.id)];
  const after = page.cursor ? decodeCursor(page.cursor) : undefined;
  if (!after) return { where: undefined, orderBy, limit: page.limit + 1 };
  if (key.rank && after.rank === undefined) {
    throw invalid('invalid cursor', [{ path: 'cursor', message: 'is not a cursor of this search' }]);
  }
  // A row comparison follows the order exactly; unranked, the (created_at, id) index serves it.
  const columns = key.rank ? sql`(${key.rank}, ${key.createdAt}, ${key.id})` : sql`(${key.createdAt}, ${key.id})`;
  const bound = sql`${after.createdAt.toISOString()}::timestamptz, ${after.id}::uuid`;
  const values = key.rank ? sql`(${after.rank}::float8, ${bound})` : sql`(${bound})`;
  return { where: sql`${columns} ${order === 'asc' ? sql`>` : sql`<`} ${values}`, orderBy, limit: page.limit + 1 };
}

/** A page from rows read one over the limit: the next cursor (cursorOf) points past the last item shown. */
function pageOf<R, V>(rows: R[], limit: number, view: (row: R) => V, cursorOf: (row: R) => string): Page<V> {
  const items = rows.slice(0, limit);
  const last = items.at(-1);
  return { items: items.map(view), nextCursor: rows.length > limit && last !== undefined ? cursorOf(last) : null };
}

/** The page from rows read with keyset(). */
export function toPage<R extends { createdAt: Date; id: string; rank?: number }, V>(
  rows: R[],
  limit: number,
  view: (row: R) => V,
): Page<V> {
  return pageOf(rows, limit, view, (row) => encodeCursor(row.createdAt, row.id, row.rank));
}

function encodeSerialCursor(id: number): string {
  return Buffer.from(JSON.stringify(id)).toString('base64url');
}

function decodeSerialCursor(cursor: string): number {
  try {
    const id = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as unknown;
    if (typeof id === 'number' && Number.isSafeInteger(id) && id > 0) return id;
  } catch {}
  throw invalid('invalid cursor', [{ path: 'cursor', message: 'is not a cursor this API returned' }]);
}

/** A keyset page over a serial id alone, newest first: for append-only logs, whose ids grow with time. */
export function serialKeyset(id: PgColumn, page: PageRequest) {
  const before = page.cursor ? decodeSerialCursor(page.cursor) : undefined;
  return { where: before === undefined ? undefined : lt(id, before), orderBy: [desc(id)], limit: page.limit + 1 };
}

/** The page from rows read with serialKeyset(). */
export function toSerialPage<R extends { id: number }, V>(rows: R[], limit: number, view: (row: R) => V): Page<V> {
  return pageOf(rows, limit, view, (row) => encodeSerialCursor(row.id));
}

/** A cursor over a text key in ascending order (document templates): the last key shown. */
export function encodeKeyCursor(key: string): string {
  return Buffer.from(JSON.stringify(key)).toString('base64url');
}

/** The key inside a cursor of encodeKeyCursor; it must also match `pattern`, the keys' own rule. */
export function decodeKeyCursor(cursor: string, pattern: RegExp): string {
  try {
    const key = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as unknown;
    if (typeof key === 'string' && pattern.test(key)) return key;
  } catch {}
  throw invalid('invalid cursor', [{ path: 'cursor', message: 'is not a cursor this API returned' }]);
}

/** The page from rows read in key order, one over the limit. */
export function toKeyPage<R extends { key: string }, V>(rows: R[], limit: number, view: (row: R) => V): Page<V> {
  return pageOf(rows, limit, view, (row) => encodeKeyCursor(row.key));
}
