// The `silo` CLI against a real PostgreSQL: runCli in-process with an environment that points at
// this file's own Silo (same management database, prefix and secrets), plus the real binary.
import { execFile } from 'node:child_process';
import { tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../src/cli/main.ts';
import { companies } from '../src/control-plane/schema.ts';
import { listServers } from '../src/control-plane/server-records.ts';
import { cliFor } from './support/cli.ts';
import { createTestSilo, namesOf, type TestSilo } from './support/test-silo.ts';
import { tenantNames } from '../src/base/names.ts';
import { randomUUID } from 'node:crypto';
import { sealedAt } from '../src/base/crypto/credentials.ts';

let t: TestSilo;
let env: Record<string, string>;
let silo: ReturnType<typeof cliFor>;
beforeAll(async () => {
  t = await createTestSilo();
  env = { DATABASE_URL: t.config.databaseUrl!, SILO_DATA_DIR: t.config.dataDir, SILO_DB_PREFIX: t.config.dbPrefix };
  silo = cliFor(t);
});
afterAll(async () => {
  await t?.close();
});

async function databaseExists(name: string) {
  return (await t.admin`select 1 from pg_database where datname = ${name}`).length === 1;
}
async function roleExists(name: string) {
  return (await t.admin`select 1 from pg_roles where rolname = ${name}`).length === 1;
}

/** The test server's admin URL and its password: neither may ever appear in CLI output. */
function secretsOfTheServer() {
  const url = new URL(t.config.databaseUrl!);
  return [t.config.databaseUrl!, decodeURIComponent(url.password)].filter((s) => s.length > 0);
}

describe('silo companies', () => {
  it('creates a company, prints its temporary password once, and lists it', async () => {
    const created = await silo('companies', 'create', '--name', 'Acme Corp', '--admin-email', 'boss@acme.test');
    expect(created.code).toBe(0);
    expect(created.stdout).toContain('created company acme-corp');
    const temporary = /temporary password \(shown once\): (\S+)/.exec(created.stdout)?.[1];
    expect(temporary).toEqual(expect.any(String));
    // The tenant role's own password is never printed.
    const row = await t.ctx.db.query.companies.findFirst({ where: (c, { eq }) => eq(c.slug, 'acme-corp') });
    expect(created.stdout + created.stderr).not.toContain(t.ctx.box.open(row!.credentialsEncrypted!, sealedAt.companyCredentials(row!.id)));
    expect(await databaseExists((await namesOf(t, 'acme-corp')).database)).toBe(true);

    const listed = await silo('companies', 'list', '--json');
    expect(listed.code).toBe(0);
    const page = JSON.parse(listed.stdout);
    expect(page.items).toEqual([expect.objectContaining({ slug: 'acme-corp', name: 'Acme Corp', status: 'active' })]);
    expect(page.nextCursor).toBeNull();
    expect(listed.stdout).not.toContain('credentials');

    const table = await silo('companies', 'list', '--q', 'acme');
    expect(table.stdout).toMatch(/^SLUG\s+NAME\s+STATUS/);
    expect(table.stdout).toContain('acme-corp');
  });

  it('with --json and a given password prints no temporary password', async () => {
    const created = await silo(
      'companies',
      'create',
      '--name',
      'Beta',
      '--slug',
      'beta',
      '--admin-email',
      'b@beta.test',
      '--admin-password',
      'beta-password',
      '--max-users',
      '5',
      '--max-storage-bytes',
      '1000000',
      '--json',
    );
    expect(created.code).toBe(0);
    const body = JSON.parse(created.stdout);
    expect(body).toMatchObject({
      slug: 'beta',
      status: 'active',
      maxUsers: 5,
      maxStorageBytes: 1_000_000,
      admin: { email: 'b@beta.test', role: 'company_admin' },
    });
    expect(body.admin.temporaryPassword).toBeUndefined();
    expect(created.stdout).not.toContain('beta-password');

    const taken = await silo('companies', 'create', '--name', 'Beta again', '--slug', 'beta', '--admin-email', 'c@beta.test');
    expect(taken.code).toBe(1);
    expect(taken.stderr).toBe('error: the slug "beta" is already taken\n');
  });

  it('deletes only with a matching --confirm, and then drops the database', async () => {
    const names = await namesOf(t, 'beta');

    const unconfirmed = await silo('companies', 'delete', 'beta', '--confirm', 'acme-corp');
    expect(unconfirmed.code).toBe(2);
    expect(unconfirmed.stderr).toBe('error: --confirm must repeat the slug: --confirm beta\n');
    const missing = await silo('companies', 'delete', 'beta');
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain("required option '--confirm <slug>' not specified");
    expect(await databaseExists(names.database)).toBe(true);

    const deleted = await silo('companies', 'delete', 'beta', '--confirm', 'beta');
    expect(deleted.code).toBe(0);
    expect(deleted.stdout).toContain('deleted company beta');
    expect(await databaseExists(names.database)).toBe(false);
    expect(await roleExists(names.role)).toBe(false);

    const listed = JSON.parse((await silo('companies', 'list', '--status', 'deleted', '--json')).stdout);
    expect(listed.items.map((c: { slug: string }) => c.slug)).toEqual(['beta']);

    const again = await silo('companies', 'delete', 'beta', '--confirm', 'beta');
    expect(again.code).toBe(1);
    expect(again.stderr).toBe('error: the company is already deleted\n');
    const unknown = await silo('companies', 'delete', 'gamma', '--confirm', 'gamma');
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toBe('error: company not found\n');
  });

  it('refuses bad input before touching anything, with a clear message', async () => {
    const cases: [string[], string][] = [
      [['companies', 'create', '--name', 'X', '--slug', 'Bad_Slug', '--admin-email', 'x@x.test'], 'must be 2-40 characters'],
      [['companies', 'create', '--name', 'X', '--slug', 'admin', '--admin-email', 'x@x.test'], 'is a reserved name'],
      [['companies', 'create', '--name', 'X', '--admin-email', 'not-an-email'], 'must be an email address'],
      [['companies', 'create', '--name', 'X', '--admin-email', 'x@x.test', '--max-users', '0'], 'must be a whole number'],
      [['companies', 'create', '--name', 'X', '--admin-email', 'x@x.test', '--server', 'nope'], 'must be a server id'],
      [
        ['companies', 'create', '--name', 'X', '--admin-email', 'x@x.test', '--admin-password', 'short'],
        '--admin-password must be at least 8 characters',
      ],
      [['admin', 'create', '--email', 'a@b.test', '--password', 'ü'.repeat(37)], '--password must be at most 72 bytes in UTF-8'],
      [['companies', 'list', '--limit', '1.5'], 'must be a whole number from 1 to 200'],
      [['companies', 'list', '--status', 'gone'], 'Allowed choices are'],
      [['companies', 'delete', 'Not A Slug', '--confirm', 'Not A Slug'], 'must be 2-40 characters'],
      [['admin', 'create', '--email', 'nobody', '--password', 'long-enough'], 'must be an email address'],
      [['companies', 'frobnicate'], "unknown command 'frobnicate'"],
    ];
    for (const [argv, message] of cases) {
      const result = await silo(...argv);
      expect(result.code, argv.join(' ')).toBe(2);
      expect(result.stderr, argv.join(' ')).toContain(message);
      expect(result.stdout, argv.join(' ')).toBe('');
    }
    // A password that is refused is not repeated.
    expect((await silo('admin', 'create', '--email', 'a@b.test', '--password', 'secret7')).stderr).not.toContain('secret7');
    // A slug made from the name is checked by the service, and fails the same way.
    const derived = await silo('companies', 'create', '--name', 'Admin', '--admin-email', 'x@x.test');
    expect(derived.code).toBe(2);
    expect(derived.stderr).toBe('error: invalid slug (slug is a reserved name)\n');
    expect((await silo('companies', 'list', '--json')).stdout).not.toContain('"X"');
  });

  it('prints the configuration problem and exits 1 on bad configuration', async () => {
    const stderr: string[] = [];
    const code = await runCli(['companies', 'list'], {
      env: { ...env, SILO_DB_PREFIX: 'Not-A-Prefix' },
      stdout: { write: () => true },
      stderr: { write: (chunk: string) => stderr.push(chunk) },
    });
    expect(code).toBe(1);
    expect(stderr.join('')).toContain('invalid configuration:\n  SILO_DB_PREFIX: must be 1-12 lowercase letters');
  });
});

describe('silo admin create', () => {
  it('creates a system admin, and a duplicate fails', async () => {
    const created = await silo(
      'admin',
      'create',
      '--email',
      'second@silo.test',
      '--password',
      'second-password',
      '--name',
      'Second',
      '--json',
    );
    expect(created.code).toBe(0);
    expect(JSON.parse(created.stdout)).toMatchObject({ email: 'second@silo.test', name: 'Second' });
    expect(created.stdout).not.toContain('second-password');
    expect(created.stdout).not.toMatch(/hash/i);

    const login = await t.call('POST', '/api/auth/login', {
      body: { email: 'second@silo.test', password: 'second-password' },
      token: null,
    });
    expect(login.status).toBe(200);

    const duplicate = await silo('admin', 'create', '--email', 'SECOND@silo.test', '--password', 'other-password');
    expect(duplicate.code).toBe(1);
    expect(duplicate.stderr).toBe('error: a system admin with that email already exists\n');
  });
});

describe('silo servers', () => {
  it('lists the default server by host, never its URL or password', async () => {
    const listed = await silo('servers', 'list', '--json');
    expect(listed.code).toBe(0);
    const { items } = JSON.parse(listed.stdout);
    const host = `${new URL(t.config.databaseUrl!).hostname}:${new URL(t.config.databaseUrl!).port || '5432'}`;
    expect(items).toEqual([expect.objectContaining({ name: 'default', host, status: 'active', reachable: true })]);
    const table = await silo('servers', 'list');
    expect(table.stdout).toMatch(/^NAME\s+PROVIDER\s+HOST\s+STATUS/);
    for (const output of [listed.stdout, table.stdout, listed.stderr, table.stderr]) {
      expect(output).not.toContain('postgres://');
      for (const secret of secretsOfTheServer()) expect(output).not.toContain(secret);
    }
  });

  it('refuses a bad or unreachable server without printing its URL', async () => {
    const notAUrl = await silo('servers', 'add', '--name', 'second', '--url', 'mysql://root:hunter2@db');
    expect(notAUrl.code).toBe(2);
    expect(notAUrl.stderr).toBe('error: --url must be a postgres:// or postgresql:// URL\n');

    const unreachable = await silo('servers', 'add', '--name', 'second', '--url', 'postgres://root:hunter2@127.0.0.1:1/postgres');
    expect(unreachable.code).toBe(1);
    expect(unreachable.stderr).toMatch(/^error: the database server cannot be reached/);
    expect(unreachable.stderr).not.toContain('hunter2');
    expect((await listServers(t.ctx)).map((s) => s.name)).toEqual(['default']);
  });
});

describe('silo reconcile', () => {
  it('reports nothing and exits 0 on a clean fleet', async () => {
    const result = await silo('reconcile');
    expect(result).toMatchObject({ code: 0, stdout: 'nothing to reconcile\n', stderr: '' });
  });

  it('finds an orphan database and exits 1; with --fix drops it and exits 0', async () => {
    const orphan = `${t.config.dbPrefix}_orphan`;
    await t.admin`create database ${t.admin(orphan)}`;

    const report = await silo('reconcile', '--json');
    expect(report.code).toBe(1);
    expect(JSON.parse(report.stdout)).toEqual({
      fix: false,
      findings: [expect.objectContaining({ kind: 'orphan_database', name: orphan, fixed: false })],
      unfixed: 1,
    });
    expect(report.stderr).toBe('error: 1 finding; "silo reconcile --fix" repairs what it can\n');
    expect(await databaseExists(orphan)).toBe(true);

    const fixed = await silo('reconcile', '--fix');
    expect(fixed.code).toBe(0);
    expect(fixed.stdout).toMatch(/^KIND\s+NAME\s+SERVER\s+FIXED/);
    expect(fixed.stdout).toContain(orphan);
    expect(await databaseExists(orphan)).toBe(false);
    expect((await silo('reconcile')).code).toBe(0);
  });

  it('marks a company stuck in provisioning failed and drops its role', async () => {
    const id = randomUUID();
    const names = tenantNames(t.config.dbPrefix, { id });
    const [server] = await listServers(t.ctx);
    const [row] = await t.ctx.db
      .insert(companies)
      .values({
        id,
        slug: 'stuck',
        name: 'Stuck',
        status: 'provisioning',
        serverId: server!.id,
        databaseName: names.database,
        roleName: names.role,
        updatedAt: new Date(Date.now() - 60 * 60_000),
      })
      .returning();
    await t.admin`create role ${t.admin(names.role)}`;

    // Not stuck yet by a two-hour measure.
    expect((await silo('reconcile', '--stuck-after-minutes', '120')).code).toBe(0);

    const report = await silo('reconcile', '--json');
    expect(report.code).toBe(1);
    // A provisioning company owns its role: only the company is a finding, not the role.
    expect(JSON.parse(report.stdout).findings).toEqual([
      expect.objectContaining({ kind: 'stuck_provisioning', name: 'stuck', companyId: row!.id, fixed: false }),
    ]);

    const fixed = await silo('reconcile', '--fix', '--json');
    expect(fixed.code).toBe(0);
    expect(JSON.parse(fixed.stdout)).toMatchObject({ fix: true, unfixed: 0, findings: [{ kind: 'stuck_provisioning', fixed: true }] });
    const [after] = await t.ctx.db.select().from(companies).where(eq(companies.id, row!.id));
    expect(after).toMatchObject({ status: 'failed', lastError: expect.stringContaining('reconcile') });
    expect(await roleExists(names.role)).toBe(false);
  });
});

describe('the silo binary', () => {
  const bin = fileURLToPath(new URL('../bin/silo.js', import.meta.url));
  const run = promisify(execFile);

  it('prints its usage with --help from any directory and exits 0', async () => {
    const { stdout } = await run(process.execPath, [bin, '--help'], { cwd: tmpdir() });
    expect(stdout).toContain('Usage: silo [options] [command]');
    expect(stdout).toContain('reconcile');
  });

  it('runs a command against the fleet and exits with its status', async () => {
    const { stdout } = await run(process.execPath, [bin, 'servers', 'list', '--json'], { env: { ...process.env, ...env } });
    expect(JSON.parse(stdout).items).toEqual([expect.objectContaining({ name: 'default' })]);

    const failed = await run(process.execPath, [bin, 'companies', 'delete', 'nobody', '--confirm', 'nobody'], {
      env: { ...process.env, ...env },
    }).catch((error: { code: number; stderr: string }) => error);
    expect(failed).toMatchObject({ code: 1, stderr: 'error: company not found\n' });
  });
});

describe('silo migrate', () => {
  it('shows status and plan, and apply exits 0 when every company is current', async () => {
    const created = await silo('companies', 'create', '--name', 'Migrating', '--slug', 'migrating', '--admin-email', 'm@m.test');
    expect(created.code).toBe(0);
    const latest = t.ctx.tenantMigrations.latest;

    const status = await silo('migrate', 'status', '--json');
    expect(status.code).toBe(0);
    const parsed = JSON.parse(status.stdout);
    expect(parsed).toMatchObject({ latest, behind: 0, failed: [] });
    expect(parsed.versions).toEqual([expect.objectContaining({ version: latest })]);

    const plan = await silo('migrate', 'plan', '--json');
    expect(JSON.parse(plan.stdout)).toMatchObject({ behind: 0, plan: [] });

    const apply = await silo('migrate', 'apply', '--json', '--only', 'migrating');
    expect(apply.code).toBe(0);
    const run = JSON.parse(apply.stdout);
    expect(run).toMatchObject({
      total: 1,
      stoppedBecause: null,
      results: [expect.objectContaining({ slug: 'migrating', status: 'current' })],
    });

    const human = await silo('migrate', 'apply', '--only', 'migrating');
    expect(human.code).toBe(0);
    expect(human.stdout).toContain('migrating: current');

    const dry = await silo('migrate', 'apply', '--dry-run', '--json', '--exclude', 'migrating');
    expect(dry.code).toBe(0);
    expect(JSON.parse(dry.stdout).results.every((r: { slug: string }) => r.slug !== 'migrating')).toBe(true);
  });

  it('refuses bad options before touching anything', async () => {
    expect((await silo('migrate', 'apply', '--concurrency', '0')).code).toBe(2);
    expect((await silo('migrate', 'apply', '--only', 'Not_A_Slug')).code).toBe(2);
  });
});
