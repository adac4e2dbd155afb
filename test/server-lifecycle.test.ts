// A database server's life after registration, on a second real PostgreSQL that the test stops and
// starts: manual placement keeps sign-ups off it; its URL changes only to one that reaches its
// databases; a company on it survives the change; when it is gone, migrate --skip-unreachable skips
// its companies, a forced delete marks one deleted and records what was left, reconcile reports
// both; when it is back, reconcile --fix drops the leftover; an empty server can be removed.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../src/cli/main.ts';
import { type EmbeddedServer, freePort, startEmbeddedPostgres } from '../src/base/embedded/embedded-postgres.ts';
import { hostOf } from '../src/control-plane/server-records.ts';
import { cliEnvOf, createTestSilo, randomName, serverUrl, type TestSilo } from './support/test-silo.ts';

let t: TestSilo;
let second: EmbeddedServer | undefined;
let secondDir: string;
let secondId: string;
let defaultId: string;

async function silo(...argv: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCli(argv, {
    env: cliEnvOf(t),
    stdout: { write: (c: string) => out.push(c) },
    stderr: { write: (c: string) => err.push(c) },
  });
  return { code, stdout: out.join(''), stderr: err.join('') };
}

const admin = (slug: string) => ({ email: `boss@${slug}.test`, password: 'correct-horse-battery' });

beforeAll(async () => {
  t = await createTestSilo({ env: { SILO_LOG_LEVEL: 'warn' } });
  secondDir = mkdtempSync(join(tmpdir(), 'silo-second-'));
  second = await startEmbeddedPostgres(secondDir, { port: await freePort() });
  const added = await t.call('POST', '/api/servers', {
    token: t.adminToken,
    body: { name: 'special', url: second.url, placement: 'manual' },
  });
  expect(added.status, added.text).toBe(201);
  expect(added.body.placement).toBe('manual');
  secondId = added.body.id;
  defaultId = (await t.call('GET', '/api/servers', { token: t.adminToken })).body.items.find(
    (s: { name: string }) => s.name === 'default',
  ).id;
});

afterAll(async () => {
  await t?.silo.close();
  await second?.stop();
  rmSync(secondDir, { recursive: true, force: true });
  await t?.close();
});

describe('a server with manual placement', () => {
  it('receives no ordinary sign-up, even 16 at once, but takes a company that names it', async () => {
    const slugs = Array.from({ length: 16 }, () => `s${randomName(8)}`);
    const created = await Promise.all(
      slugs.map((slug) => t.call('POST', '/api/companies', { token: t.adminToken, body: { name: slug, slug, admin: admin(slug) } })),
    );
    expect(created.map((r) => r.status)).toEqual(slugs.map(() => 201));
    expect(new Set(created.map((r) => r.body.serverId))).toEqual(new Set([defaultId]));

    const named = await t.call('POST', '/api/companies', {
      token: t.adminToken,
      body: { name: 'Big', slug: 'big', admin: admin('big'), serverId: secondId },
    });
    expect(named.status, named.text).toBe(201);
    expect(named.body.serverId).toBe(secondId);
  });
});

describe('registering a cluster twice', () => {
  it('is refused, whichever database the URL names, over HTTP and the CLI, naming the server that has it', async () => {
    const port = new URL(second!.url).port;
    const otherDatabase = new URL(second!.url);
    otherDatabase.pathname = '/template1';
    const again = await t.call('POST', '/api/servers', { token: t.adminToken, body: { name: 'again', url: otherDatabase.toString() } });
    expect(again.status).toBe(409);
    expect(again.body.error).toMatchObject({
      code: 'conflict',
      message: expect.stringContaining(`the PostgreSQL cluster at 127.0.0.1:${port} is already registered as server "special"`),
    });
    expect(again.text).not.toContain(decodeURIComponent(otherDatabase.password));
    // The suite's server, this Silo's default (registered with the management database's URL).
    const suites = await t.call('POST', '/api/servers', { token: t.adminToken, body: { name: 'again', url: serverUrl() } });
    expect(suites.status).toBe(409);
    expect(suites.body.error.message).toContain('already registered as server "default"');
    const byCli = await silo('servers', 'add', '--name', 'again', '--url', second!.url);
    expect(byCli.code).toBe(1);
    expect(byCli.stderr).toContain('already registered as server "special"');
    // Nor may a server's URL be changed to another server's cluster.
    const moved = await t.call('PATCH', `/api/servers/${secondId}`, { token: t.adminToken, body: { url: serverUrl() } });
    expect(moved.status).toBe(409);
    expect(moved.body.error.message).toContain('already registered as server "default"');
    expect((await t.call('GET', '/api/servers', { token: t.adminToken })).body.items.map((s: { name: string }) => s.name).sort()).toEqual([
      'default',
      'special',
    ]);
  });

  it('compares host names in lower case and spells out the default port', () => {
    expect(hostOf('postgres://u:p@DB.Example.COM/postgres')).toBe('db.example.com:5432');
    expect(hostOf('postgresql://u:p@db.example.com:5432/other')).toBe('db.example.com:5432');
  });
});

describe('changing a server', () => {
  it('refuses a URL that reaches another server or a bad login, and stores nothing', async () => {
    // The suite's server by another name (which the duplicate check does not know for the same).
    const suites = new URL(serverUrl());
    suites.hostname = 'localhost';
    const elsewhere = await t.call('PATCH', `/api/servers/${secondId}`, { token: t.adminToken, body: { url: suites.toString() } });
    expect(elsewhere.status).toBe(400);
    expect(elsewhere.body.error.message).toContain('without 1 of the 1 databases');
    const wrong = new URL(second!.url);
    wrong.password = 'not-the-password';
    const refused = await t.call('PATCH', `/api/servers/${secondId}`, { token: t.adminToken, body: { url: wrong.toString() } });
    expect(refused.status).toBe(400);
    expect(refused.text).not.toContain('not-the-password');
    expect(
      (await t.call('GET', '/api/servers', { token: t.adminToken })).body.items.find((s: { id: string }) => s.id === secondId).host,
    ).toBe(`127.0.0.1:${new URL(second!.url).port}`);
    expect((await t.call('PATCH', `/api/servers/${secondId}`, { token: t.adminToken, body: { apiKey: 'x' } })).status).toBe(400);
    expect((await t.call('PATCH', `/api/servers/${secondId}`, { token: t.adminToken, body: {} })).status).toBe(400);
  });

  it('takes another URL for the same cluster, and its company is served through it', async () => {
    const other = new URL(second!.url);
    other.hostname = 'localhost';
    expect((await silo('servers', 'update', secondId)).code).toBe(2); // nothing to change
    const patched = await t.call('PATCH', `/api/servers/${secondId}`, {
      token: t.adminToken,
      body: { url: other.toString(), capacity: 50 },
    });
    expect(patched.status, patched.text).toBe(200);
    expect(patched.body).toMatchObject({ host: `localhost:${other.port}`, capacity: 50, placement: 'manual' });
    expect(patched.text).not.toContain(decodeURIComponent(other.password));
    other.hostname = 'LocalHost';
    const upperCase = await t.call('POST', '/api/servers', { token: t.adminToken, body: { name: 'again', url: other.toString() } });
    expect(upperCase.status).toBe(409);
    expect(upperCase.body.error.message).toContain(`the PostgreSQL cluster at localhost:${other.port} is already registered`);

    const login = await t.call('POST', '/api/auth/login', { token: null, body: { ...admin('big'), company: 'big' } });
    expect(login.status).toBe(200);
    expect((await t.call('GET', '/api/health/tenant', { token: login.body.token })).body.connected).toBe(true);
    expect((await silo('servers', 'update', secondId, '--placement', 'automatic', '--json')).stdout).toContain('"placement": "automatic"');
    expect((await silo('servers', 'update', secondId, '--placement', 'manual')).code).toBe(0);
  });

  it('refuses to remove a server that holds a company', async () => {
    const refused = await t.call('DELETE', `/api/servers/${secondId}`, { token: t.adminToken });
    expect(refused.status).toBe(409);
    expect(refused.body.error.message).toContain('still holds companies');
  });
});

describe('a server gone', () => {
  beforeAll(async () => {
    await t.silo.ctx.servers.forget(secondId);
    await second!.stop();
    second = undefined;
  });

  it('migrate apply --skip-unreachable leaves its companies out and says how many', async () => {
    const skipping = await silo('migrate', 'apply', '--skip-unreachable', '--json');
    expect(skipping.code, skipping.stderr).toBe(0);
    expect(JSON.parse(skipping.stdout).skipped).toEqual([{ slug: 'big', serverId: secondId }]);
    expect((await silo('migrate', 'apply', '--skip-unreachable')).stderr).toContain('skipped 1 company on unreachable servers');
    expect((await silo('migrate', 'apply', '--only', 'big')).code).toBe(1);
  });

  it('deletes a company only with force, recording what was left; reconcile reports it and the server', async () => {
    const plain = await t.call('DELETE', '/api/companies/big', { token: t.adminToken, headers: { 'x-confirm': 'big' } });
    expect(plain.status).toBe(503);
    expect(plain.body.error.message).toContain('force');
    expect((await t.call('GET', '/api/companies/big', { token: t.adminToken })).body.status).toBe('active');

    const forced = await silo('companies', 'delete', 'big', '--confirm', 'big', '--force', '--json');
    expect(forced.code, forced.stderr).toBe(0);
    const view = JSON.parse(forced.stdout);
    expect(view).toMatchObject({ status: 'deleted', notRemoved: [{ serverId: secondId, database: view.database }] });
    const logs = await t.call('GET', '/api/companies/big/logs', { token: t.adminToken });
    expect(logs.body.items[0]).toMatchObject({ action: 'deleted', status: 'ok', details: { forced: true } });

    const report = await silo('reconcile', '--json');
    expect(report.code).toBe(1);
    const kinds = JSON.parse(report.stdout).findings.map((f: { kind: string; serverId: string }) => `${f.kind} ${f.serverId}`);
    expect(kinds).toEqual(expect.arrayContaining([`unreachable_server ${secondId}`, `forced_delete_leftover ${secondId}`]));
  });

  it('when the server is back, reconcile --fix drops the leftover; then the empty server can be removed', async () => {
    second = await startEmbeddedPostgres(secondDir);
    const fixed = await silo('reconcile', '--fix', '--json');
    expect(fixed.code, fixed.stdout).toBe(0);
    const database = JSON.parse(fixed.stdout).findings.find((f: { kind: string }) => f.kind === 'forced_delete_leftover').name;
    const probe = await t.silo.ctx.servers.admin(secondId);
    expect(await probe`select 1 from pg_database where datname = ${database}`).toHaveLength(0);

    expect((await silo('servers', 'remove', secondId)).code).toBe(0);
    expect((await t.call('GET', '/api/servers', { token: t.adminToken })).body.items.map((s: { id: string }) => s.id)).not.toContain(
      secondId,
    );
    expect((await t.call('GET', '/api/companies/big', { token: t.adminToken })).body).toMatchObject({ status: 'deleted', serverId: null });
    expect((await t.call('DELETE', `/api/servers/${secondId}`, { token: t.adminToken })).status).toBe(404);
  });

  it('once removed, the cluster can be registered again: by one of 16 registrations at once', async () => {
    const names = Array.from({ length: 16 }, (_, i) => `again-${i}`);
    const answers = await Promise.all(
      names.map((name) => t.call('POST', '/api/servers', { token: t.adminToken, body: { name, url: second!.url } })),
    );
    expect(answers.map((a) => a.status).sort()).toEqual([201, ...names.slice(1).map(() => 409)]);
    const listed = (await t.call('GET', '/api/servers', { token: t.adminToken })).body.items as { name: string; host: string }[];
    expect(listed.filter((s) => s.host === `127.0.0.1:${new URL(second!.url).port}`)).toHaveLength(1);
  });
});
