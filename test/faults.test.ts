// Faults Silo survives, with real processes and real PostgreSQL servers: a Silo process killed
// (SIGKILL) in the middle of provisioning or of a move, then `silo reconcile --fix`; a tenant
// database server restarted while 16 clients read and write. (A fleet migration killed part-way is
// in test/fleet-migrations.test.ts; the management database restarted is in
// test/management-restart.test.ts.) After each: no orphaned database or role, no company pointing
// at a missing database, and every write that was acknowledged is there.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { inArray, sql as dsql } from 'drizzle-orm';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../src/cli/main.ts';
import { companies } from '../src/control-plane/schema.ts';
import { type EmbeddedServer, startEmbeddedPostgres } from '../src/base/embedded/embedded-postgres.ts';
import { tenantNamePattern } from '../src/base/names.ts';
import { killChildAt } from './support/kill-child.ts';
import { createTestSilo, type TestSilo } from './support/test-silo.ts';

const PASSWORD = 'boss-password';
let t: TestSilo;
let secondDir: string;
let second: EmbeddedServer | undefined;
let secondUrl: string;
let defaultId: string;
let secondId: string;

beforeAll(async () => {
  t = await createTestSilo();
  secondDir = mkdtempSync(join(tmpdir(), 'silo-faults-'));
  second = await startEmbeddedPostgres(secondDir);
  secondUrl = second.url;
  const added = await t.call('POST', '/api/servers', { token: t.adminToken, body: { name: 'second', url: secondUrl } });
  expect(added.status, added.text).toBe(201);
  secondId = added.body.id;
  defaultId = (await t.call('GET', '/api/servers', { token: t.adminToken })).body.items.find((s: { id: string }) => s.id !== secondId).id;
});

afterAll(async () => {
  await t?.close();
  await second?.stop();
  if (secondDir) rmSync(secondDir, { recursive: true, force: true });
});

/** The same Silo as `t` (management database, prefix, secrets in the data dir), for a child process. */
function childEnv(): NodeJS.ProcessEnv {
  return {
    ...process.env,
    DATABASE_URL: t.config.databaseUrl,
    SILO_DATA_DIR: t.config.dataDir,
    SILO_DB_PREFIX: t.config.dbPrefix,
    SILO_LOG_LEVEL: 'silent',
  };
}

/** Runs test/support/crash-child.ts and kills it with SIGKILL once it prints `step <at>`. */
const killDuring = (at: string, args: string[]) => killChildAt(at, args, childEnv());

function serverClient(serverId: string) {
  return postgres(serverId === secondId ? secondUrl : t.config.databaseUrl!, { max: 1, onnotice: () => {} });
}

/** Tenant databases and roles on a server named with this Silo's prefix (the template excluded). */
async function tenantObjectsOn(serverId: string): Promise<{ databases: string[]; roles: string[] }> {
  const sql = serverClient(serverId);
  const pattern = tenantNamePattern(t.config.dbPrefix);
  try {
    const databases = await sql<{ name: string }[]>`
      select datname as name from pg_database where datname like ${pattern.like} and datname not like ${pattern.notLike}`;
    const roles = await sql<{ name: string }[]>`
      select rolname as name from pg_roles where rolname like ${pattern.like} and rolname not like ${pattern.notLike}`;
    return { databases: databases.map((r) => r.name).sort(), roles: roles.map((r) => r.name).sort() };
  } finally {
    await sql.end();
  }
}

/**
 * The fleet is whole: every live company's database and role exist on its server, and nothing on a
 * server carries this Silo's prefix without a live company that owns it.
 */
async function expectFleetWhole() {
  const live = await t.ctx.db
    .select()
    .from(companies)
    .where(inArray(companies.status, ['active', 'suspended']));
  for (const serverId of [defaultId, secondId]) {
    const onServer = live.filter((c) => c.serverId === serverId);
    const found = await tenantObjectsOn(serverId);
    expect({ serverId, ...found }).toEqual({
      serverId,
      databases: onServer.map((c) => c.databaseName!).sort(),
      roles: onServer.map((c) => c.roleName!).sort(),
    });
  }
  const stuck = await t.ctx.db
    .select()
    .from(companies)
    .where(inArray(companies.status, ['provisioning']));
  expect(stuck).toEqual([]);
}

/** What an operator runs after a crash, later than the grace periods (the rows' clocks are moved back). */
async function reconcileAfterCrash() {
  const past = dsql`now() - interval '1 hour'`;
  await t.ctx.db
    .update(companies)
    .set({ updatedAt: past })
    .where(inArray(companies.status, ['provisioning']));
  await t.ctx.db.update(companies).set({ moveLeaseUntil: past, writesHeldUntil: past }).where(dsql`${companies.movingTo} is not null`);
  const env = { DATABASE_URL: t.config.databaseUrl!, SILO_DATA_DIR: t.config.dataDir, SILO_DB_PREFIX: t.config.dbPrefix };
  const out: string[] = [];
  const io = { env, stdout: { write: (s: string) => out.push(s) }, stderr: { write: (s: string) => out.push(s) } };
  const fixed = await runCli(['reconcile', '--fix', '--json'], io);
  expect(fixed, out.join('')).toBe(0);
  const again = await runCli(['reconcile'], io);
  expect(again, out.join('')).toBe(0);
}

describe('Silo killed with SIGKILL', () => {
  // Each step of the saga in turn: the database and role it made, or the row it claimed, are left
  // behind by the kill, and reconcile --fix repairs them.
  it.each(['role', 'database', 'ownership', 'first_admin', 'activate'])(
    'while provisioning (at %s) leaves nothing that reconcile --fix does not repair',
    async (step) => {
      const slug = `crash-${step.replace('_', '-')}`;
      const { killed, output } = await killDuring(step, ['provision', slug]);
      expect(killed, output).toBe(true);
      await reconcileAfterCrash();
      await expectFleetWhole();
      // The slug is free again: creating the company now succeeds and serves its admin.
      const created = await t.call('POST', '/api/companies', {
        token: t.adminToken,
        body: { name: slug, slug, admin: { email: `boss@${slug}.test`, password: PASSWORD } },
      });
      expect(created.status, created.text).toBe(201);
      await expectFleetWhole();
    },
    60_000,
  );

  it.each(['database', 'copy', 'switch', 'drop_old'])(
    'while moving a company (at %s) leaves it served from one whole database once reconciled',
    async (step) => {
      const slug = `mover-${step.replace('_', '-')}`;
      const created = await t.call('POST', '/api/companies', {
        token: t.adminToken,
        body: { name: slug, slug, serverId: defaultId, admin: { email: `boss@${slug}.test`, password: PASSWORD } },
      });
      expect(created.status, created.text).toBe(201);
      const login = await t.call('POST', '/api/auth/login', {
        token: null,
        body: { email: `boss@${slug}.test`, password: PASSWORD, company: slug },
      });
      const token = login.body.token as string;
      const titles: string[] = [];
      for (let i = 0; i < 20; i++) {
        const doc = await t.call('POST', '/api/documents', { token, body: { title: `doc ${i}`, content: 'kept' } });
        expect(doc.status, doc.text).toBe(201);
        titles.push(`doc ${i}`);
      }

      const { killed, output } = await killDuring(step, ['move', slug, secondId]);
      expect(killed, output).toBe(true);
      await reconcileAfterCrash();
      await expectFleetWhole();
      // Wherever it ended up, the company answers with every document it had.
      await t.ctx.tenants.companyChanged(created.body.id);
      const listed = await t.call('GET', '/api/documents?limit=200', { token });
      expect(listed.status, listed.text).toBe(200);
      expect(listed.body.items.map((d: { title: string }) => d.title).sort()).toEqual([...titles].sort());
      const written = await t.call('POST', '/api/documents', { token, body: { title: 'after', content: 'writable' } });
      expect(written.status, written.text).toBe(201);
    },
    60_000,
  );
});

describe('a tenant database server restarted under load', () => {
  it('answers 503 for its companies meanwhile, keeps the others working, and loses no acknowledged write', async () => {
    const tenants: { slug: string; token: string; serverId: string }[] = [];
    for (const [i, serverId] of [defaultId, defaultId, secondId, secondId].entries()) {
      const slug = `load-${i}`;
      const created = await t.call('POST', '/api/companies', {
        token: t.adminToken,
        body: { name: slug, slug, serverId, admin: { email: `boss@${slug}.test`, password: PASSWORD } },
      });
      expect(created.status, created.text).toBe(201);
      const login = await t.call('POST', '/api/auth/login', {
        token: null,
        body: { email: `boss@${slug}.test`, password: PASSWORD, company: slug },
      });
      tenants.push({ slug, token: login.body.token, serverId });
    }

    const acknowledged = new Map<string, string[]>(tenants.map((x) => [x.slug, []]));
    const statuses: { serverId: string; status: number }[] = [];
    let running = true;
    const client = async (n: number) => {
      for (let i = 0; running && i < 2000; i++) {
        const tenant = tenants[(n + i) % tenants.length]!;
        const title = `c${n}-${i}`;
        const res = await t.call('POST', '/api/documents', { token: tenant.token, body: { title, content: 'load' } });
        statuses.push({ serverId: tenant.serverId, status: res.status });
        if (res.status === 201) acknowledged.get(tenant.slug)!.push(title);
        else if (res.status !== 503) throw new Error(`unexpected ${res.status}: ${res.text}`);
        if (res.status === 503) await sleep(50);
      }
    };
    const clients = Array.from({ length: 16 }, (_, n) => client(n));

    await sleep(1000);
    await second!.stop();
    second = undefined;
    const down = statuses.length;
    await sleep(1500);
    second = await startEmbeddedPostgres(secondDir);
    // Service resumes without restarting Silo.
    const resumed = Date.now();
    let back = false;
    while (!back && Date.now() - resumed < 15_000) {
      await sleep(200);
      back = statuses.slice(-8).some((s) => s.serverId === secondId && s.status === 201);
    }
    running = false;
    await Promise.all(clients);
    expect(back).toBe(true);

    const during = statuses.slice(down);
    expect(during.filter((s) => s.serverId === secondId && s.status === 503).length).toBeGreaterThan(0);
    // The other server's companies never failed.
    expect(statuses.filter((s) => s.serverId === defaultId && s.status !== 201)).toEqual([]);

    // Every acknowledged write is there.
    for (const tenant of tenants) {
      const listed: string[] = [];
      let cursor: string | null = null;
      do {
        const page = await t.call('GET', `/api/documents?limit=200${cursor ? `&cursor=${cursor}` : ''}`, { token: tenant.token });
        expect(page.status, page.text).toBe(200);
        listed.push(...page.body.items.map((d: { title: string }) => d.title));
        cursor = page.body.nextCursor;
      } while (cursor);
      const missing = acknowledged.get(tenant.slug)!.filter((title) => !listed.includes(title));
      expect({ slug: tenant.slug, missing }).toEqual({ slug: tenant.slug, missing: [] });
    }
  }, 120_000);
});
