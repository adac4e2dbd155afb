// Operator commands against a real PostgreSQL: silo --version, companies show | suspend | activate |
// stats | logs, admin list | reset-password | remove (never the last admin, even when two removals
// race); and GET /, which points a person at the reference.
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../src/cli/main.ts';
import { createSystemAdmin } from '../src/control-plane/system-users.ts';
import { cliFor } from './support/cli.ts';
import { ADMIN, cliEnvOf, createTestSilo, type TestSilo } from './support/test-silo.ts';

const BOSS = { email: 'boss@acme.test', password: 'boss-of-acme-pass' };
let t: TestSilo;
let silo: ReturnType<typeof cliFor>;
beforeAll(async () => {
  t = await createTestSilo();
  silo = cliFor(t);
  const created = await withEnv(
    { BOSS_PW: BOSS.password },
    ...['companies', 'create', '--name', 'Acme', '--slug', 'acme', '--admin-email', BOSS.email, '--admin-password-env', 'BOSS_PW'],
  );
  expect(created.code).toBe(0);
});
afterAll(async () => {
  await t?.close();
});

/** A CLI run with extra environment variables (a password handed over by name). */
async function withEnv(extra: Record<string, string>, ...argv: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCli(argv, {
    env: { ...cliEnvOf(t), ...extra },
    stdout: { write: (c: string) => out.push(c) },
    stderr: { write: (c: string) => err.push(c) },
  });
  return { code, stdout: out.join(''), stderr: err.join('') };
}

describe('GET /', () => {
  it('answers without a token with links that work', async () => {
    const index = await t.call('GET', '/', { token: null });
    expect(index.status).toBe(200);
    expect(index.body).toMatchObject({ service: 'silo', links: { console: '/console', docs: '/docs', openapi: '/openapi.json' } });
    for (const link of Object.values(index.body.links as Record<string, string>).filter((l) => l !== '/metrics')) {
      const res = await t.call('GET', link, { token: null });
      // The console sends a person without a session to its login page.
      const landed = res.status === 303 ? await t.call('GET', res.headers.get('location')!, { token: null }) : res;
      expect(landed.status, link).toBe(200);
    }
  });
});

describe('silo --version', () => {
  it("prints package.json's version and exits 0", async () => {
    const { version } = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
    const result = await silo('--version');
    expect(result).toMatchObject({ code: 0, stdout: `${version}\n` });
  });
});

describe('silo embedded url', () => {
  it('refuses when Silo runs on DATABASE_URL, and says to start Silo when there is no embedded server yet', async () => {
    expect(await silo('embedded', 'url')).toMatchObject({ code: 1, stderr: expect.stringContaining('DATABASE_URL is set') });
    const fresh = await withEnv({ DATABASE_URL: '', SILO_DATA_DIR: '/nonexistent/silo' }, 'embedded', 'url');
    expect(fresh).toMatchObject({ code: 1, stderr: expect.stringContaining('start Silo once') });
  });
});

describe('silo companies show | suspend | activate | stats | logs', () => {
  it('shows a company by slug, without credentials', async () => {
    const shown = await silo('companies', 'show', 'acme', '--json');
    expect(shown.code).toBe(0);
    expect(JSON.parse(shown.stdout)).toMatchObject({ slug: 'acme', status: 'active', provider: 'postgres' });
    expect(shown.stdout).not.toMatch(/password|credentials/i);
    expect((await silo('companies', 'show', 'acme')).stdout).toMatch(/status\s+active/);
    expect(await silo('companies', 'show', 'nobody')).toMatchObject({ code: 1, stderr: expect.stringContaining('not found') });
  });

  it('suspends (its users are refused) and activates again', async () => {
    const login = await t.call('POST', '/api/auth/login', { token: null, body: { ...BOSS, company: 'acme' } });
    expect(login.status).toBe(200);
    const asBoss = () => t.call('GET', '/api/health/tenant', { token: login.body.token });
    expect(await silo('companies', 'suspend', 'acme')).toMatchObject({ code: 0, stdout: expect.stringContaining('acme is suspended') });
    expect((await asBoss()).body.error.code).toBe('company_suspended');
    expect(await silo('companies', 'activate', 'acme', '--json')).toMatchObject({ code: 0 });
    expect((await asBoss()).status).toBe(200);
  });

  it("reports the database's figures and the operation log", async () => {
    const stats = await silo('companies', 'stats', 'acme', '--json');
    expect(stats.code).toBe(0);
    expect(JSON.parse(stats.stdout)).toMatchObject({ users: 1, documents: 0, databaseSizeBytes: expect.any(Number) });
    const logs = await silo('companies', 'logs', 'acme', '--json');
    expect(JSON.parse(logs.stdout).items.map((e: { action: string }) => e.action)).toEqual(
      expect.arrayContaining(['suspended', 'resumed', 'created']),
    );
    expect((await silo('companies', 'logs', 'acme', '--limit', '0')).code).toBe(2);
  });
});

describe('silo admin list | reset-password | remove', () => {
  it('lists admins; a reset password logs in, the old one no longer does, and old tokens end', async () => {
    const listed = await silo('admin', 'list', '--json');
    expect(JSON.parse(listed.stdout).items.map((a: { email: string }) => a.email)).toEqual([ADMIN.email]);
    expect(listed.stdout).not.toMatch(/hash/i);

    const before = t.adminToken;
    expect((await t.call('GET', '/api/auth/me', { token: before })).status).toBe(200);
    const reset = await withEnv(
      { NEW_PW: 'a-brand-new-passphrase' },
      'admin',
      'reset-password',
      '--email',
      ADMIN.email,
      '--password-env',
      'NEW_PW',
    );
    expect(reset).toMatchObject({ code: 0 });
    expect(reset.stdout).not.toContain('a-brand-new-passphrase');
    const login = (password: string) => t.call('POST', '/api/auth/login', { token: null, body: { email: ADMIN.email, password } });
    expect((await login('a-brand-new-passphrase')).status).toBe(200);
    expect((await login(ADMIN.password)).status).toBe(401);
    expect((await t.call('GET', '/api/auth/me', { token: before })).status).toBe(401);

    expect((await withEnv({ NEW_PW: 'short' }, 'admin', 'reset-password', '--email', ADMIN.email, '--password-env', 'NEW_PW')).code).toBe(
      2,
    );
    expect(
      (await withEnv({ NEW_PW: 'long-enough-pass' }, 'admin', 'reset-password', '--email', 'no@one.test', '--password-env', 'NEW_PW')).code,
    ).toBe(1);
  });

  it('never removes the last admin, even when two removals race', async () => {
    expect(await silo('admin', 'remove', '--email', ADMIN.email)).toMatchObject({
      code: 1,
      stderr: expect.stringContaining('the last system admin cannot be removed'),
    });
    await createSystemAdmin(t.ctx, { email: 'second@silo.test', password: 'correct-horse-battery' });
    const [a, b] = await Promise.all([
      silo('admin', 'remove', '--email', ADMIN.email),
      silo('admin', 'remove', '--email', 'second@silo.test'),
    ]);
    expect([a.code, b.code].sort()).toEqual([0, 1]);
    expect(JSON.parse((await silo('admin', 'list', '--json')).stdout).items).toHaveLength(1);
  });
});
