// Tenant migrations across a fleet, against real Postgres: a temporary copy of the migration set
// gets a new migration, as a deploy would bring one.
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { eq, sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { companyMigrations } from '../src/control-plane/schema.ts';
import { migrateFleet, fleetStatus, fleetSucceeded, plannedMigrations } from '../src/operations/migrations/fleet.ts';
import { loadMigrationSet } from '../src/base/db/migration-set.ts';
import { provisionCompany } from '../src/operations/provisioning/provision-company.ts';
import { documents } from '../src/data-plane/schema.ts';
import { rowsOf } from '../src/data-plane/tenant-db.ts';
import { copyTenantMigrations, type MigrationFolder } from './support/migration-folder.ts';
import { createTestSilo, type TestSilo } from './support/test-silo.ts';

let t: TestSilo;
let migrations: MigrationFolder;
let folder: string;

/** Appends a migration to the temporary set; the Silo reads the set again, as a restart would. */
function addMigration(tag: string, text: string) {
  t.ctx.tenantMigrations = migrations.add(tag, text);
}

const slugs = Array.from({ length: 20 }, (_, i) => `fleet-${String(i).padStart(2, '0')}`);

async function company(slug: string) {
  return (await t.ctx.tenants.company((await t.call('GET', `/api/companies/${slug}`, { token: t.adminToken })).body.id))!;
}

async function addDocument(slug: string, title: string, content = 'x') {
  await t.ctx.tenants.run(await company(slug), (db) => db.insert(documents).values({ title, content }));
}

async function columnsOfDocuments(slug: string) {
  const rows = rowsOf<{ name: string }>(
    await t.ctx.tenants.run(await company(slug), (db) =>
      db.execute(sql`select column_name as name from information_schema.columns where table_name = 'documents'`),
    ),
  );
  return rows.map((r) => r.name);
}

beforeAll(async () => {
  migrations = copyTenantMigrations();
  folder = migrations.path;
  t = await createTestSilo({ tenantMigrationsFolder: folder });
  for (const slug of slugs) {
    await provisionCompany(t.ctx, { name: slug, slug, admin: { email: `a@${slug}.test`, password: 'admin-password' } }, 'test');
  }
});
afterAll(async () => {
  await t?.close();
  migrations?.remove();
});

describe('a deploy with a new migration', () => {
  it('brings every company to the new version, and new companies are born at it', async () => {
    addMigration(
      '0001_priority',
      'alter table documents add column priority integer not null default 0;\n--> statement-breakpoint\ncreate index documents_priority_idx on documents (priority);',
    );
    expect((await fleetStatus(t.ctx)).behind).toBe(20);

    const run = await migrateFleet(t.ctx, { concurrency: 4, actor: 'test' });
    expect(fleetSucceeded(run)).toBe(true);
    expect(run.results.filter((r) => r.status === 'migrated')).toHaveLength(20);
    expect(run.results.every((r) => r.version === '0001_priority')).toBe(true);
    expect(await columnsOfDocuments('fleet-07')).toContain('priority');
    const status = await fleetStatus(t.ctx);
    expect(status).toMatchObject({ behind: 0, versions: [{ version: '0001_priority', companies: 20 }] });

    const born = await t.call('POST', '/api/companies', {
      token: t.adminToken,
      body: { name: 'Newborn', slug: 'newborn', admin: { email: 'n@n.test' } },
    });
    expect(born.body.schemaVersion).toBe('0001_priority');
    expect(await columnsOfDocuments('newborn')).toContain('priority');
    const logs = await t.ctx.db.select().from(companyMigrations).where(eq(companyMigrations.runId, run.runId));
    expect(logs).toHaveLength(20);
  });

  it('fails one company alone, records why, and a re-run after the data is fixed completes', async () => {
    await addDocument('fleet-03', 'duplicate');
    await addDocument('fleet-03', 'duplicate');
    await addDocument('fleet-04', 'unique one');
    addMigration('0002_unique_titles', 'create unique index documents_title_key on documents (title);');

    const run = await migrateFleet(t.ctx, { concurrency: 3, actor: 'test' });
    expect(fleetSucceeded(run)).toBe(false);
    const failed = run.results.filter((r) => r.status === 'failed');
    expect(failed.map((r) => r.slug)).toEqual(['fleet-03']);
    expect(failed[0]).toMatchObject({ failedMigration: '0002_unique_titles', version: '0001_priority' });
    expect(failed[0]!.error).toMatch(/could not create unique index/);
    expect(run.results.filter((r) => r.status === 'migrated')).toHaveLength(20); // 19 + newborn

    const shown = await t.call('GET', '/api/companies/fleet-03', { token: t.adminToken });
    expect(shown.body).toMatchObject({ schemaVersion: '0001_priority', migrationError: expect.stringContaining('0002_unique_titles') });
    const status = await t.call('GET', '/api/system/status', { token: t.adminToken });
    expect(status.body.tenantSchema.failed.map((f: { slug: string }) => f.slug)).toEqual(['fleet-03']);

    // Nothing of the failed migration stayed behind in that company.
    const index = rowsOf<{ i: string | null }>(
      await t.ctx.tenants.run(await company('fleet-03'), (db) => db.execute(sql`select to_regclass('documents_title_key') as i`)),
    );
    expect(index[0]!.i).toBeNull();

    await t.ctx.tenants.run(await company('fleet-03'), (db) => db.execute(sql`delete from documents where title = 'duplicate'`));
    const rerun = await migrateFleet(t.ctx, { concurrency: 3, actor: 'test' });
    expect(fleetSucceeded(rerun)).toBe(true);
    expect(rerun.results.filter((r) => r.status === 'migrated').map((r) => r.slug)).toEqual(['fleet-03']);
    expect((await t.call('GET', '/api/companies/fleet-03', { token: t.adminToken })).body.migrationError).toBeNull();
  });

  it('stops after the canary when a canary company fails, and at the failure budget', async () => {
    // Companies are taken oldest first: fleet-01 and fleet-05 will fail.
    // Titles are unique by now; contents are not, until this migration.
    for (const slug of ['fleet-01', 'fleet-05', 'fleet-09']) {
      await addDocument(slug, 'first', 'same');
      await addDocument(slug, 'second', 'same');
    }
    addMigration('0003_unique_content', 'create unique index documents_content_key on documents (content);');

    const canary = await migrateFleet(t.ctx, { concurrency: 1, canary: 3, actor: 'test' });
    expect(canary.stoppedBecause).toBe('canary_failed');
    expect(canary.results.map((r) => r.slug)).toEqual(['fleet-00', 'fleet-01']);
    expect(canary.notAttempted).toHaveLength(21 - 2);

    const budget = await migrateFleet(t.ctx, { concurrency: 1, maxFailures: 2, actor: 'test' });
    expect(budget.stoppedBecause).toBe('max_failures');
    expect(budget.results.filter((r) => r.status === 'failed').map((r) => r.slug)).toEqual(['fleet-01', 'fleet-05']);
    expect(budget.results.at(-1)!.slug).toBe('fleet-05');
    expect(budget.notAttempted.map((n) => n.slug)).toContain('fleet-09');

    for (const slug of ['fleet-01', 'fleet-05', 'fleet-09']) {
      await t.ctx.tenants.run(await company(slug), (db) => db.execute(sql`delete from documents where title = 'second'`));
    }
    expect(fleetSucceeded(await migrateFleet(t.ctx, { concurrency: 4, actor: 'test' }))).toBe(true);
  });

  it('applies each migration once per database when two runners start together', async () => {
    addMigration('0004_note', 'select pg_sleep(0.05);\n--> statement-breakpoint\nalter table documents add column note text;');
    const [first, second] = await Promise.all([
      migrateFleet(t.ctx, { concurrency: 3, actor: 'runner-1' }),
      migrateFleet(t.ctx, { concurrency: 3, actor: 'runner-2' }),
    ]);
    expect(fleetSucceeded(first) && fleetSucceeded(second)).toBe(true);
    const applied = await t.ctx.db
      .select({ n: sql<number>`count(*)::int` })
      .from(companyMigrations)
      .where(sql`${companyMigrations.migration} = '0004_note' and ${companyMigrations.status} = 'applied'`);
    expect(applied[0]!.n).toBe(21);
    const rows = rowsOf<{ n: number }>(
      await t.ctx.tenants.run(await company('fleet-10'), (db) =>
        db.execute(sql`select count(*)::int as n from drizzle.__drizzle_migrations`),
      ),
    );
    expect(rows[0]!.n).toBe(t.ctx.tenantMigrations.migrations.length);
  });

  it('leaves no database half-migrated when the runner is killed, and a re-run completes', async () => {
    addMigration(
      '0005_two_steps',
      'alter table documents add column step_one text;\n--> statement-breakpoint\nselect pg_sleep(0.4);\n--> statement-breakpoint\nalter table documents add column step_two text;',
    );
    const child = spawn(process.execPath, ['--import', 'tsx', 'test/support/fleet-child.ts', folder], {
      env: { ...process.env, DATABASE_URL: t.config.databaseUrl, SILO_DATA_DIR: t.config.dataDir, SILO_DB_PREFIX: t.config.dbPrefix },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let finished = 0;
    await new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (chunk: Buffer) => {
        finished += String(chunk)
          .split('\n')
          .filter((l) => l.startsWith('done')).length;
        if (finished >= 3) {
          child.kill('SIGKILL');
          resolve();
        }
      });
      child.on('exit', () => resolve());
      setTimeout(() => reject(new Error('the child never got going')), 60_000).unref();
    });
    await new Promise((r) => child.once('exit', r).once('close', r));

    let migrated = 0;
    for (const slug of [...slugs, 'newborn']) {
      const columns = await columnsOfDocuments(slug);
      // Both columns or neither: each migration is one transaction.
      expect(columns.includes('step_one')).toBe(columns.includes('step_two'));
      if (columns.includes('step_two')) migrated++;
    }
    expect(migrated).toBeGreaterThanOrEqual(3);
    expect(migrated).toBeLessThan(21);

    const rerun = await migrateFleet(t.ctx, { concurrency: 4, actor: 'test' });
    expect(fleetSucceeded(rerun)).toBe(true);
    for (const slug of [...slugs, 'newborn']) expect(await columnsOfDocuments(slug)).toContain('step_two');
  });

  it('reports a changed applied file as drift', async () => {
    writeFileSync(join(folder, '0004_note.sql'), 'alter table documents add column note varchar(10);');
    t.ctx.tenantMigrations = loadMigrationSet(folder);
    const run = await migrateFleet(t.ctx, { concurrency: 4, only: ['fleet-02'], actor: 'test' });
    expect(run.results).toHaveLength(1);
    expect(run.results[0]!.drift.map((d) => d.tag)).toEqual(['0004_note']);
  });
});

describe('an upgrade without a fleet run', () => {
  it('migrates a company that is behind on its first request, once for many requests', async () => {
    addMigration('0006_first_request', 'alter table documents add column seen_first boolean;');
    const login = await t.call('POST', '/api/auth/login', {
      token: null,
      body: { email: 'a@fleet-11.test', password: 'admin-password', company: 'fleet-11' },
    });
    expect(login.status).toBe(200);
    const responses = await Promise.all(Array.from({ length: 20 }, () => t.call('GET', '/api/health/tenant', { token: login.body.token })));
    expect(responses.map((r) => r.status)).toEqual(Array(20).fill(200));
    expect(await columnsOfDocuments('fleet-11')).toContain('seen_first');
    const applied = await t.ctx.db
      .select({ n: sql<number>`count(*)::int` })
      .from(companyMigrations)
      .where(sql`${companyMigrations.migration} = '0006_first_request'`);
    expect(applied[0]!.n).toBe(1);
    expect((await t.call('GET', '/api/companies/fleet-11', { token: t.adminToken })).body.schemaVersion).toBe('0006_first_request');
  });

  it('migrates one company through the API', async () => {
    const res = await t.call('POST', '/api/companies/fleet-12/migrate', { token: t.adminToken });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ status: 'migrated', applied: ['0006_first_request'], version: '0006_first_request', pending: [] });
    const again = await t.call('POST', '/api/companies/fleet-12/migrate', { token: t.adminToken });
    expect(again.body).toMatchObject({ status: 'current', applied: [] });
  });
});

describe('a rolling deploy, old and new code side by side', () => {
  it('leaves a company that a newer deploy migrated on its newer version', async () => {
    // A newer instance recorded a version this code's migration set does not have.
    await t.ctx.sql`update companies set schema_version = '9999_from_the_future' where slug = 'fleet-13'`;
    t.ctx.tenants.forget((await t.call('GET', '/api/companies/fleet-13', { token: t.adminToken })).body.id);
    const login = await t.call('POST', '/api/auth/login', {
      token: null,
      body: { email: 'a@fleet-13.test', password: 'admin-password', company: 'fleet-13' },
    });
    expect((await t.call('GET', '/api/health/tenant', { token: login.body.token })).status).toBe(200);
    const run = await migrateFleet(t.ctx, { concurrency: 2, only: ['fleet-13'], actor: 'old-code' });
    // Old code may still apply what it knows of, but never records its older version over the newer.
    expect(run.results[0]!.status).not.toBe('failed');
    expect((await t.call('GET', '/api/companies/fleet-13', { token: t.adminToken })).body.schemaVersion).toBe('9999_from_the_future');
    // Nor counts it as behind, nor plans anything for it.
    const status = await fleetStatus(t.ctx);
    const known = status.versions.filter((v) => v.version !== '9999_from_the_future' && v.version !== status.latest);
    expect(status.behind).toBe(known.reduce((n, v) => n + v.companies, 0));
    expect(plannedMigrations(t.ctx, (await company('fleet-13'))!)).toEqual([]);
  });
});

describe('an interrupted run', () => {
  it('stops scheduling when aborted, lets running migrations finish, and a re-run completes', async () => {
    addMigration('0007_interrupted', 'select pg_sleep(0.1);\n--> statement-breakpoint\nalter table documents add column late text;');
    const interrupt = new AbortController();
    const run = await migrateFleet(t.ctx, {
      concurrency: 2,
      actor: 'test',
      signal: interrupt.signal,
      onResult: (_, progress) => {
        if (progress.done === 3) interrupt.abort();
      },
    });
    expect(run.stoppedBecause).toBe('interrupted');
    expect(run.results.every((r) => r.status !== 'failed')).toBe(true);
    expect(run.results.length).toBeGreaterThanOrEqual(3);
    expect(run.results.length + run.notAttempted.length).toBe(run.total);
    expect(run.notAttempted.length).toBeGreaterThan(0);
    expect(fleetSucceeded(await migrateFleet(t.ctx, { concurrency: 4, actor: 'test' }))).toBe(true);
  });
});
