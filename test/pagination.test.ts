// Keyset cursors, without a database: what the API hands out reads back as the same key, and
// anything else (garbage, a tampered key, another list's cursor) is a 400, never a first page.
import { sql } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import { refusal } from './support/refusal.ts';
import { decodeCursor, encodeCursor, keyset, serialKeyset, toPage, toSerialPage } from '../src/base/pagination.ts';
import { documents } from '../src/data-plane/schema.ts';
import { companyDatabaseLogs } from '../src/control-plane/schema.ts';

const id = '3f2b8c4e-9a61-4d2e-8f0a-1b2c3d4e5f60';
const at = new Date('2026-01-02T03:04:05.678Z');
const b64 = (value: unknown) => Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url');

describe('a (created_at, id) cursor', () => {
  it('reads back as the key it was made from, with or without a rank', () => {
    expect(decodeCursor(encodeCursor(at, id))).toEqual({ createdAt: at, id });
    expect(decodeCursor(encodeCursor(at, id, 0.25))).toEqual({ createdAt: at, id, rank: 0.25 });
  });

  it.each([
    ['not base64 JSON', 'bogus'],
    ['a bad date', b64(['yesterday', id])],
    ['an id that is not a uuid', b64([at.toISOString(), "1' or '1'='1"])],
    ['a rank that is not a number', b64([at.toISOString(), id, 'high'])],
    ['an object instead of a list', b64({ createdAt: at, id })],
  ])('is refused with a 400 when it holds %s', (_case, cursor) => {
    const error = refusal(() => decodeCursor(cursor));
    expect(error.code).toBe('validation_failed');
    expect(error.details).toEqual([{ path: 'cursor', message: 'is not a cursor this API returned' }]);
  });

  it("refuses a list's cursor for a search, whose order has a rank first", () => {
    const rank = sql<number>`1.0`;
    const error = refusal(() =>
      keyset({ rank, createdAt: documents.createdAt, id: documents.id }, { limit: 10, cursor: encodeCursor(at, id) }),
    );
    expect(error.code).toBe('validation_failed');
  });

  it('points past the last item shown, and only when there is a next page', () => {
    const rows = [1, 2, 3].map((n) => ({ createdAt: new Date(at.getTime() + n), id, n }));
    const page = toPage(rows, 2, (row) => row.n);
    expect(page.items).toEqual([1, 2]);
    expect(decodeCursor(page.nextCursor!)).toEqual({ createdAt: rows[1]!.createdAt, id });
    expect(toPage(rows, 3, (row) => row.n).nextCursor).toBeNull();
  });
});

describe('a serial id cursor (company logs)', () => {
  it('reads back as the id it was made from', () => {
    const page = toSerialPage([{ id: 42 }, { id: 41 }], 1, (row) => row.id);
    expect(page).toEqual({ items: [42], nextCursor: expect.any(String) });
    expect(serialKeyset(companyDatabaseLogs.id, { limit: 1, cursor: page.nextCursor! }).where).toBeDefined();
    expect(serialKeyset(companyDatabaseLogs.id, { limit: 1 }).where).toBeUndefined();
  });

  it.each([
    ['garbage', 'bogus'],
    ['a negative id', b64(-1)],
    ['a fraction', b64(1.5)],
    ['a number past 2^53', b64('9007199254740993')],
    ["a (created_at, id) list's cursor", encodeCursor(at, id)],
  ])('is refused with a 400 when it is %s', (_case, cursor) => {
    expect(refusal(() => serialKeyset(companyDatabaseLogs.id, { limit: 1, cursor })).code).toBe('validation_failed');
  });
});
