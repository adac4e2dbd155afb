// What a crash or a race leaves of backups and restores, and `silo reconcile` repairing it, with real
// processes and real PostgreSQL: a restore in place killed (SIGKILL) at each of its steps, or
// between the renames of its swap, leaves the company serving its old data, and reconcile drops what
// the restore made; a backup whose Silo died is marked failed and its temporary file removed, and
// one whose Silo was paused (SIGSTOP) past the lapse is marked failed by another instance and,
// resumed, completes nothing and leaves no archive; an
// unarchive racing a reconcile keeps the database it is building; a failed unarchive stays archived.
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { join } from 'node:path';
import { eq, isNotNull, sql as dsql } from 'drizzle-orm';
import type postgres from 'postgres';
import { sharedDatabaseName } from '../src/base/names.ts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { companies, companyBackups } from '../src/control-plane/schema.ts';
import { archiveCompany, unarchiveCompany } from '../src/operations/backups/archive-company.ts';
import { takeBackup } from '../src/operations/backups/backups.ts';
import { failStaleBackups, type InterruptedBackup } from '../src/operations/backups/stale.ts';
import { restoreNames } from '../src/operations/backups/restore-in-place.ts';
import { reconcile } from '../src/operations/reconcile/reconcile.ts';
import { cliFor } from './support/cli.ts';
import { killChildAt, pauseChildAt } from './support/kill-child.ts';
import { withTenantDb as withDb } from './support/tenant-db.ts';
import { cliEnvOf, createTestSilo, namesOf, type TestSilo } from './support/test-silo.ts';

let t: TestSilo;
let cli: ReturnType<typeof cliFor>;

async function createTenant(slug: string) {
  const created = await t.call('POST', '/api/companies', {
    token: t.adminToken,
    body: { name: slug, slug, admin: { email: `boss@${slug}.test`, password: 'boss-password' } },
  });
  expect(created.status, created.text).toBe(201);
  return created.body.id as string;
}

const withTenantDb = <T>(slug: string, run: (sql: postgres.Sql) => Promise<T>) => withDb(t, slug, run);

/** The documents' titles, sorted: what the company serves. */
const titles = (slug: string) =>
  withTenantDb(slug, async (sql) => (await sql<{ title: string }[]>`select title from documents order by title`).map((r) => r.title));

async function seed(slug: string, label: string, n: number) {
  await withTenantDb(
    slug,
    (sql) => sql`insert into documents (title, content) select ${label} || i, repeat('x', 500) from generate_series(1, ${n}) i`,
  );
}

/** Databases beside the companies' own: a restore's new and old ones. */
async function restoreDatabases(): Promise<string[]> {
  const rows = await t.admin<{ datname: string }[]>`select datname from pg_database where datname like ${`${t.config.dbPrefix}\\_\\_%`}`;
  // The template and the shared reference database are the installation's own, not a restore's.
  return rows.map((r) => r.datname).filter((n) => !n.endsWith('__template') && n !== sharedDatabaseName(t.config.dbPrefix));
}

/** Runs a restore in test/support/crash-child.ts and kills it with SIGKILL once it prints `step <at>`. */
const killRestoreAt = (at: string, slug: string, backupId: string) =>
  killChildAt(at, ['restore', slug, backupId], { ...process.env, ...cliEnvOf(t), SILO_LOG_LEVEL: 'silent' });

/** `silo reconcile --fix` after the claim's lease has run out (its clock moved back), then nothing left. */
async function reconcileAfterCrash() {
  const past = dsql`now() - interval '1 hour'`;
  await t.ctx.db.update(companies).set({ moveLeaseUntil: past, writesHeldUntil: past }).where(isNotNull(companies.movingTo));
  const fixed = await cli('reconcile', '--fix', '--json');
  expect(fixed.code, fixed.stdout + fixed.stderr).toBe(0);
  const again = await cli('reconcile');
  expect(again.code, again.stdout + again.stderr).toBe(0);
  return JSON.parse(fixed.stdout) as { findings: { kind: string; name: string; fixed: boolean }[] };
}

beforeAll(async () => {
  t = await createTestSilo();
  cli = cliFor(t);
}, 60_000);

afterAll(async () => {
  await t?.close();
});

describe('a restore in place killed mid-way', () => {
  it.each(['database', 'copy', 'verify', 'migrate_forward', 'hold', 'swap'])(
    'at step %s: the company serves its old data, and reconcile drops what the restore made',
    async (step) => {
      const slug = `killed-at-${step.replace('_', '-')}`;
      const id = await createTenant(slug);
      await seed(slug, 'backed-up ', 2000);
      const backup = await takeBackup(t.ctx, slug, 'test');
      await seed(slug, 'after ', 50);
      const old = await titles(slug);

      const { killed, output } = await killRestoreAt(step, slug, backup.id);
      expect(killed, output).toBe(true);
      expect(await titles(slug)).toEqual(old);
      const { findings } = await reconcileAfterCrash();
      expect(findings).toEqual(expect.arrayContaining([expect.objectContaining({ kind: 'interrupted_restore', name: slug, fixed: true })]));
      expect(await restoreDatabases()).toEqual([]);
      await t.ctx.tenants.companyChanged(id);
      expect(await titles(slug)).toEqual(old);
      const token = (
        await t.call('POST', '/api/auth/login', {
          token: null,
          body: { email: `boss@${slug}.test`, password: 'boss-password', company: slug },
        })
      ).body.token;
      const written = await t.call('POST', '/api/documents', { token, body: { title: 'after reconcile', content: 'writable' } });
      expect(written.status, written.text).toBe(201);
    },
    90_000,
  );

  // The swap renames the company's database away and the restored one in: a kill between the two
  // renames, or after both but before the company's row switched, is put back by reconcile.
  it.each([
    ['between the renames', ['live to old']],
    ['after both renames', ['live to old', 'restored to live']],
  ])('%s of the swap: reconcile puts the old database back and drops the restored one', async (_label, renames) => {
    const slug = `swap-${renames.length}`;
    const id = await createTenant(slug);
    await seed(slug, 'backed-up ', 500);
    const backup = await takeBackup(t.ctx, slug, 'test');
    await seed(slug, 'after ', 50);
    const old = await titles(slug);
    const { killed, output } = await killRestoreAt('swap', slug, backup.id);
    expect(killed, output).toBe(true);
    // What the swap had done when the process died.
    const live = (await namesOf(t, slug)).database;
    const names = restoreNames(t.config.dbPrefix, live);
    await t.admin.unsafe(`alter database "${live}" allow_connections false`);
    await t.admin`select pg_terminate_backend(pid) from pg_stat_activity where datname = ${live}`;
    await t.admin.unsafe(`alter database "${live}" rename to "${names.old}"`);
    if (renames.length === 2) await t.admin.unsafe(`alter database "${names.restored}" rename to "${live}"`);

    await reconcileAfterCrash();
    expect(await restoreDatabases()).toEqual([]);
    await t.ctx.tenants.companyChanged(id);
    expect(await titles(slug)).toEqual(old);
  });
});

describe('a backup whose Silo died', () => {
  it('is marked failed by reconcile once its heartbeat lapsed, and what it wrote is removed', async () => {
    const id = await createTenant('died-backing-up');
    const insert = async (heartbeat: ReturnType<typeof dsql>) => {
      const backupId = crypto.randomUUID();
      const storageKey = `${id}/${backupId}.silo`;
      await t.ctx.db.insert(companyBackups).values({ id: backupId, companyId: id, actor: 'test', storageKey, heartbeatAt: heartbeat });
      mkdirSync(join(t.config.backups.dir, id), { recursive: true });
      const partial = join(t.config.backups.dir, id, `.${backupId}.silo.tmp`);
      writeFileSync(partial, 'half an archive');
      return { backupId, partial };
    };
    const dead = await insert(dsql`now() - interval '10 minutes'`);
    const alive = await insert(dsql`now()`);

    const found = await cli('reconcile', '--json');
    expect(found.code).toBe(1);
    expect(JSON.parse(found.stdout).findings).toEqual([expect.objectContaining({ kind: 'interrupted_backup', name: dead.backupId })]);
    expect((await cli('reconcile', '--fix')).code).toBe(0);

    const status = async (backupId: string) =>
      (await t.ctx.db.select().from(companyBackups).where(eq(companyBackups.id, backupId)))[0]!.status;
    expect(await status(dead.backupId)).toBe('failed');
    expect(existsSync(dead.partial)).toBe(false);
    expect(await status(alive.backupId)).toBe('running');
    expect(existsSync(alive.partial)).toBe(true);
    const listed = await t.call('GET', `/api/companies/died-backing-up/backups/${dead.backupId}`, { token: t.adminToken });
    expect(listed.body).toMatchObject({ status: 'failed', error: expect.stringContaining('interrupted') });
  });
});

describe('a backup whose Silo was paused', () => {
  it('is marked failed by another instance once the lapse passed; resumed, it completes nothing and leaves no archive', async () => {
    const slug = 'paused-backing-up';
    const id = await createTenant(slug);
    await seed(slug, 'row ', 20_000);
    const lapse = 2;
    // Another instance with the same short lapse (SILO_BACKUP_STALE_AFTER_SECONDS), as its scheduler runs it.
    const other = { ...t.ctx, config: { ...t.config, backups: { ...t.config.backups, staleAfterSeconds: lapse } } };
    let found: InterruptedBackup[] = [];
    const env = { ...process.env, ...cliEnvOf(t), SILO_LOG_LEVEL: 'silent', SILO_BACKUP_STALE_AFTER_SECONDS: String(lapse) };
    const child = await pauseChildAt('backup', ['backup', slug], env, async () => {
      await sleep((lapse + 1) * 1000);
      found = await failStaleBackups(other, { fix: true, actor: 'other-instance' });
    });
    expect(child.paused, child.output).toBe(true);
    // (The other tests' backups left running count as interrupted too under so short a lapse.)
    expect(found.filter((f) => f.companyId === id)).toEqual([expect.objectContaining({ fixed: true })]);
    // Resumed, the paused Silo finds its backup failed (or its temporary file gone) and fails it.
    expect(child.code, child.output).not.toBe(0);
    expect(child.output).not.toContain('backed up');
    const rows = await t.ctx.db.select().from(companyBackups).where(eq(companyBackups.companyId, id));
    expect(rows).toEqual([expect.objectContaining({ status: 'failed', error: expect.stringContaining('interrupted') })]);
    const folder = join(t.config.backups.dir, id);
    expect(existsSync(folder) ? readdirSync(folder) : []).toEqual([]);
  });
});

describe('unarchive', () => {
  it('keeps the database it is building when reconcile runs meanwhile', async () => {
    await createTenant('waking');
    await seed('waking', 'kept ', 300);
    const before = await titles('waking');
    await archiveCompany(t.ctx, 'waking', 'test');
    const names = await namesOf(t, 'waking');
    let findings: { kind: string; name: string }[] = [];
    const woken = await unarchiveCompany(t.ctx, 'waking', 'test', {
      beforeStep: async (step) => {
        if (step === 'copy') findings = await reconcile(t.ctx, { fix: true, actor: 'test' });
      },
    });
    expect(findings.filter((f) => f.name === names.database || f.name === names.role)).toEqual([]);
    expect(woken.status).toBe('active');
    expect(await titles('waking')).toEqual(before);
  });

  it('stays archived, with nothing left on the server, when it fails; a second try brings the data back', async () => {
    await createTenant('dozing');
    await seed('dozing', 'kept ', 300);
    const before = await titles('dozing');
    await archiveCompany(t.ctx, 'dozing', 'test');
    const failing = unarchiveCompany(t.ctx, 'dozing', 'test', {
      beforeStep: async (step) => {
        if (step === 'copy') throw new Error('injected');
      },
    });
    await expect(failing).rejects.toThrow(/step "copy"/);
    const row = (await t.ctx.db.select().from(companies).where(eq(companies.slug, 'dozing')))[0]!;
    expect(row).toMatchObject({ status: 'archived', serverId: null, databaseName: null, roleName: null });
    const names = await namesOf(t, 'dozing');
    const [left] = await t.admin<{ n: number }[]>`
      select (select count(*) from pg_database where datname = ${names.database})
           + (select count(*) from pg_roles where rolname = ${names.role}) as n`;
    expect(Number(left!.n)).toBe(0);
    expect((await unarchiveCompany(t.ctx, 'dozing', 'test')).status).toBe('active');
    expect(await titles('dozing')).toEqual(before);
  });
});
