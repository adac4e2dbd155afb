// A connection that dies while postgres.js fetches array types (the catalog query every new
// connection runs first, `fetch_types`) must fail only the queries that were waiting for it, and
// never as an unhandled rejection: Node ends the process on one by default, so a database restart
// that lands on a new connection would take Silo down with it. A small TCP proxy in front of the
// shared test server holds the type query back, and the backend behind it is then terminated with
// pg_terminate_backend, as a restart or a failover does.
import { createServer, type Server, type Socket, connect as tcpConnect } from 'node:net';
import postgres, { type Sql } from 'postgres';
import { afterAll, afterEach, beforeAll, beforeEach, expect, it } from 'vitest';
import { openPostgres } from '../src/base/db/postgres-client.ts';
import { inSqlTransaction } from '../src/base/db/transaction.ts';
import { randomName, serverUrl } from './support/test-silo.ts';

const TYPE_QUERY = 'pg_catalog.pg_type';
let proxy: Server;
let proxyUrl: string;
let admin: Sql;
let held: (() => void) | undefined;
const sockets = new Set<Socket>();
const unhandled: unknown[] = [];
const onUnhandled = (reason: unknown) => unhandled.push(reason);

/** Resolves when the next type query reaches the proxy, which then keeps it from the server. */
function holdNextTypeQuery(): Promise<void> {
  return new Promise((resolve) => {
    held = resolve;
  });
}

beforeAll(async () => {
  const target = new URL(serverUrl());
  proxy = createServer((client) => {
    const upstream = tcpConnect(Number(target.port), target.hostname);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => {});
    }
    upstream.pipe(client);
    client.on('data', (chunk) => {
      if (held && chunk.includes(TYPE_QUERY)) {
        held();
        held = undefined;
        return; // never sent: the backend waits for it, idle, until it is terminated
      }
      upstream.write(chunk);
    });
    client.on('close', () => upstream.destroy());
  });
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  const address = proxy.address();
  if (!address || typeof address === 'string') throw new Error('the proxy has no port');
  const url = new URL(serverUrl());
  url.host = `127.0.0.1:${address.port}`;
  proxyUrl = url.toString();
  admin = postgres(serverUrl(), { max: 1, onnotice: () => {} });
});

afterAll(async () => {
  await admin.end();
  for (const s of sockets) s.destroy();
  await new Promise((resolve) => proxy.close(resolve));
});

beforeEach(() => {
  unhandled.length = 0;
  process.on('unhandledRejection', onUnhandled);
});

afterEach(() => {
  process.off('unhandledRejection', onUnhandled);
});

/** Terminates the backends of `name`'s sessions, as a server shutting down does. */
async function terminate(name: string): Promise<number> {
  // In the select list, so that it runs only for the rows the filter keeps.
  const rows = await admin<{ terminated: boolean }[]>`
    select pg_terminate_backend(pid) as terminated from pg_stat_activity where application_name = ${name}`;
  return rows.filter((row) => row.terminated).length;
}

/** Lets queued microtasks and a few event-loop turns run, so a rejection would have been reported. */
async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise((resolve) => setTimeout(resolve, 20));
}

/** How a promise ended: 'answered', or the error's code (a caller can act on both). */
function outcome(promise: Promise<unknown>): Promise<string> {
  return promise.then(
    () => 'answered',
    (error: { code?: string }) => error.code ?? 'error',
  );
}

// postgres.js fails the first query after the reconnect with the terminated backend's error
// (57P01) rather than running it: a clear error its caller handles, and the next one is served.
const ENDINGS = ['answered', '57P01', 'CONNECTION_CLOSED'];

it('a transaction whose new connection is terminated during the type fetch ends, the next one works; nothing unhandled', async () => {
  const name = `silo-types-${randomName(6)}`;
  const sql = openPostgres(proxyUrl, { max: 2, connect_timeout: 5, connection: { application_name: name } });
  try {
    const typeQueryHeld = holdNextTypeQuery();
    // inSqlTransaction reserves a connection (sql.reserve()): the pool opens one for it.
    const add = () => inSqlTransaction(sql, async (conn) => (await conn<{ n: number }[]>`select 41 + 1 as n`)[0]!.n);
    const first = outcome(add());
    await typeQueryHeld;
    expect(await terminate(name)).toBe(1);
    expect(ENDINGS).toContain(await first);
    expect(await add()).toBe(42);
    await settle();
    expect(unhandled).toEqual([]);
  } finally {
    await sql.end();
  }
});

it('a query whose new connection is terminated during the type fetch ends, the next one works; nothing unhandled', async () => {
  const name = `silo-types-${randomName(6)}`;
  const sql = openPostgres(proxyUrl, { max: 1, connect_timeout: 5, connection: { application_name: name } });
  try {
    const typeQueryHeld = holdNextTypeQuery();
    const first = outcome(sql`select 1 as n`);
    await typeQueryHeld;
    expect(await terminate(name)).toBe(1);
    expect(ENDINGS).toContain(await first);
    expect((await sql<{ n: number }[]>`select 2 as n`)[0]!.n).toBe(2);
    await settle();
    expect(unhandled).toEqual([]);
  } finally {
    await sql.end();
  }
});
