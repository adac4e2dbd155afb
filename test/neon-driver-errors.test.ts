// A Neon company's pool (@neondatabase/serverless's Pool, node-postgres over a WebSocket) must
// survive the server ending its sessions, as Neon does when a compute suspends (57P01), a restart
// or a failover does, or pg_terminate_backend: node-postgres reports an error that arrives while
// no query runs as an 'error' event on the client, and an 'error' event nobody listens to ends the
// process. The pool listens for its idle clients; a client lent out (a transaction between two
// statements) had no listener. The driver is reached through the WebSocket proxy that plays
// Neon's (test/support/ws-proxy.ts), against the suite's PostgreSQL; each session is ended by pid.
import { sql } from 'drizzle-orm';
import postgres from 'postgres';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { configureNeonDriver, neonPoolOpener } from '../src/providers/neon/driver.ts';
import { serverUrl } from './support/test-silo.ts';
import { startWsProxy, type WsProxy } from './support/ws-proxy.ts';

let proxy: WsProxy;
let admin: postgres.Sql;
let pool: ReturnType<Awaited<ReturnType<typeof neonPoolOpener>>>;
const uncaught: unknown[] = [];
const collect = (error: unknown) => uncaught.push(error);

beforeAll(async () => {
  process.on('uncaughtException', collect);
  process.on('unhandledRejection', collect);
  proxy = await startWsProxy();
  admin = postgres(serverUrl(), { max: 1, onnotice: () => {} });
  configureNeonDriver({ wsProxy: proxy.wsProxy, connectTimeoutSeconds: 5 });
  const open = await neonPoolOpener();
  pool = open(serverUrl(), { max: 2, idleTimeoutSeconds: 30, connectTimeoutSeconds: 5 });
});

afterAll(async () => {
  await pool?.end();
  await admin?.end();
  await proxy?.close();
  process.off('uncaughtException', collect);
  process.off('unhandledRejection', collect);
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const pidOf = async (run: (q: ReturnType<typeof sql>) => Promise<{ rows: unknown[] }>) =>
  ((await run(sql`select pg_backend_pid() as pid`)).rows[0] as { pid: number }).pid;

it('survives an idle session ended by the server, and the next query opens a new one', async () => {
  const pid = await pidOf((q) => pool.db.execute(q));
  await admin`select pg_terminate_backend(${pid})`;
  await sleep(500);
  expect(await pidOf((q) => pool.db.execute(q))).not.toBe(pid);
  expect(uncaught).toEqual([]);
});

it('survives a session ended between two statements of a transaction: that transaction fails, the process and the pool go on', async () => {
  const failed = pool.db.transaction(async (tx) => {
    const pid = await pidOf((q) => tx.execute(q));
    await admin`select pg_terminate_backend(${pid})`;
    // The termination (57P01, then the socket's end) arrives while no query runs on the client.
    await sleep(500);
    await tx.execute(sql`select 1`);
  });
  await expect(failed).rejects.toThrow();
  expect(uncaught).toEqual([]);
  // The broken client was not given back to the pool: the next query gets a working one.
  expect(typeof (await pidOf((q) => pool.db.execute(q)))).toBe('number');
});
