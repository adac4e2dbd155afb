// A Silo of its own for one test file: a fresh management database and a unique name prefix on the
// shared test server, the real app, a system admin and its token, and every log line captured.
// close() drops everything the file created.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { desc, eq } from 'drizzle-orm';
import postgres from 'postgres';
import { companies } from '../../src/control-plane/schema.ts';
import { inject } from 'vitest';
import { openSilo, type Silo } from '../../src/bootstrap.ts';
import { loadConfig, type Config } from '../../src/base/config/config.ts';
import type { SiloContext } from '../../src/context.ts';
import { createApp } from '../../src/http/app.ts';
import { tenantNamePattern, templateNames, tenantNames, type TenantNames } from '../../src/base/names.ts';
import { createSystemAdmin } from '../../src/control-plane/system-users.ts';

export const ADMIN = { email: 'ops@silo.test', password: 'correct-horse-battery' };

export function serverUrl(database = 'postgres'): string {
  const url = new URL(inject('serverUrl'));
  url.pathname = `/${database}`;
  return url.toString();
}

/** The database and role names of the company with this slug (its latest row, whatever its status). */
export async function namesOf(t: { ctx: SiloContext }, slug: string): Promise<TenantNames> {
  const [row] = await t.ctx.db
    .select({ id: companies.id })
    .from(companies)
    .where(eq(companies.slug, slug))
    .orderBy(desc(companies.createdAt))
    .limit(1);
  if (!row) throw new Error(`no company ${slug}`);
  return tenantNames(t.ctx.config.dbPrefix, row);
}

export function randomName(length = 8): string {
  return Array.from({ length }, () => 'abcdefghijklmnopqrstuvwxyz'[Math.floor(Math.random() * 26)]).join('');
}

/** The environment a CLI run needs to act on this test Silo's fleet. */
export function cliEnvOf(t: TestSilo): Record<string, string> {
  return { DATABASE_URL: t.config.databaseUrl!, SILO_DATA_DIR: t.config.dataDir, SILO_DB_PREFIX: t.config.dbPrefix };
}

export interface TestSilo {
  silo: Silo;
  ctx: SiloContext;
  config: Config;
  app: ReturnType<typeof createApp>;
  adminToken: string;
  logs: string[];
  /**
   * app.request with a JSON body. The caller is always named: `token` is a bearer token (the
   * system admin's is `adminToken`), or null for a request without one.
   */
  call(
    method: string,
    path: string,
    options: { token: string | null; body?: unknown; headers?: Record<string, string> },
    // biome-ignore lint/suspicious/noExplicitAny: a JSON answer whose shape is what each test asserts
  ): Promise<{ status: number; body: any; text: string; headers: Headers }>;
  /** A one-connection admin client on the test server; ended by close(). */
  admin: postgres.Sql;
  close(): Promise<void>;
}

export async function createTestSilo(options: { env?: Record<string, string>; tenantMigrationsFolder?: string } = {}): Promise<TestSilo> {
  const prefix = `t${randomName(7)}`;
  const managementDb = `${prefix}_management`.replace(/^t/, 'm');
  const admin = postgres(serverUrl(), { max: 2, onnotice: () => {} });
  await admin`create database ${admin(managementDb)}`;
  const dataDir = mkdtempSync(join(tmpdir(), 'silo-file-'));
  const config = loadConfig({
    DATABASE_URL: serverUrl(managementDb),
    SILO_DATA_DIR: dataDir,
    SILO_DB_PREFIX: prefix,
    SILO_LOG_LEVEL: 'debug',
    ...options.env,
  });
  const logs: string[] = [];
  const destination = new Writable({
    write(chunk, _encoding, done) {
      logs.push(String(chunk));
      done();
    },
  });
  const silo = await openSilo(config, {
    prepareTemplates: true,
    listen: true,
    logDestination: destination,
    ...(options.tenantMigrationsFolder ? { tenantMigrationsFolder: options.tenantMigrationsFolder } : {}),
  });
  const app = createApp(silo.ctx);
  const user = await createSystemAdmin(silo.ctx, ADMIN);
  const adminToken = (await silo.ctx.tokens.issue({ sub: user.id, role: 'system_admin' })).token;

  return {
    silo,
    ctx: silo.ctx,
    config,
    app,
    adminToken,
    logs,
    admin,
    async call(method, path, { body, token: bearer, headers = {} }) {
      const res = await app.request(path, {
        method,
        headers: {
          ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
          ...(bearer ? { authorization: `Bearer ${bearer}` } : {}),
          ...headers,
        },
        // Bytes (an archive) as they are; anything else but text as JSON.
        ...(body !== undefined
          ? { body: typeof body === 'string' || body instanceof Uint8Array ? (body as BodyInit) : JSON.stringify(body) }
          : {}),
      });
      const text = await res.text();
      let parsed: unknown;
      try {
        parsed = JSON.parse(text);
      } catch {
        parsed = undefined;
      }
      return { status: res.status, body: parsed, text, headers: res.headers };
    },
    async close() {
      await silo.close();
      const pattern = tenantNamePattern(prefix);
      const template = templateNames(prefix);
      const databases = await admin<{ datname: string }[]>`
        select datname from pg_database where datname like ${pattern.like} or datname = ${template.database}`;
      for (const { datname } of databases) await admin`drop database if exists ${admin(datname)} with (force)`;
      const roles = await admin<{ rolname: string }[]>`
        select rolname from pg_roles where rolname like ${pattern.like} or rolname = ${template.owner}`;
      for (const { rolname } of roles) await admin`drop role if exists ${admin(rolname)}`;
      await admin`drop database if exists ${admin(managementDb)} with (force)`;
      await admin.end();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
