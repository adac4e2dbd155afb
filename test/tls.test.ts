// TLS to database servers (docs/tls.md): a second PostgreSQL with ssl=on and a certificate for
// `localhost` signed by a CA made here, which refuses every connection that does not use TLS
// (pg_hba `hostnossl ... reject`). A Silo whose management database and servers live there can
// only work if every client it opens honours the URL's sslmode and CA.
import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, copyFileSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openSilo, type Silo } from '../src/bootstrap.ts';
import { ConfigError, loadConfig } from '../src/base/config/config.ts';
import { sealedAt } from '../src/base/crypto/credentials.ts';
import { describeError } from '../src/base/errors.ts';
import { freePort, startEmbeddedPostgres, type EmbeddedServer } from '../src/base/embedded/embedded-postgres.ts';
import { createApp } from '../src/http/app.ts';
import { migrateFleet } from '../src/operations/migrations/fleet.ts';
import { tenantNamePattern, templateNames } from '../src/base/names.ts';
import { findCompany } from '../src/control-plane/company-records.ts';
import { createSystemAdmin } from '../src/control-plane/system-users.ts';
import { companyDatabaseUrl, openAsCompany } from '../src/data-plane/company-database.ts';
import { createTestSilo, randomName, serverUrl, type TestSilo } from './support/test-silo.ts';

let dir: string;
let server: EmbeddedServer;
/** The TLS server's superuser URL, host 127.0.0.1, no sslmode. */
let plainUrl: URL;
let password: string;
const ca = () => join(dir, 'ca.pem');
const otherCa = () => join(dir, 'other-ca.pem');

/** Runs openssl in the test's folder; `args` is split on spaces (none of them holds one). */
function openssl(args: string): void {
  execFileSync('openssl', args.split(' '), { cwd: dir, stdio: 'pipe' });
}

/** A CA, a second unrelated CA, and a server certificate for `localhost` only, signed by the first. */
function makeCertificates(): void {
  const newKey = '-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2';
  const asCa = '-addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign';
  openssl(`req -x509 ${newKey} -keyout ca.key -out ca.pem -subj /CN=silo-test-ca ${asCa}`);
  openssl(`req -x509 ${newKey} -keyout other-ca.key -out other-ca.pem -subj /CN=other-ca ${asCa}`);
  openssl(`req ${newKey} -keyout server.key -out server.csr -subj /CN=localhost`);
  writeFileSync(join(dir, 'server.ext'), 'subjectAltName=DNS:localhost\n');
  openssl('x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out server.crt -days 2 -extfile server.ext');
}

/** Turns TLS on in the running server and refuses every connection without it. */
async function enableTls(): Promise<void> {
  const admin = postgres(plainUrl.toString(), { max: 1, onnotice: () => {} });
  try {
    // Asked, not assumed: where the cluster lives is the embedded server's business.
    const [where] = await admin<{ pgDir: string; hba: string }[]>`
      select current_setting('data_directory') as "pgDir", current_setting('hba_file') as hba`;
    const { pgDir, hba } = where!;
    // The server (as root: the `postgres` system user) must own its key, and no one else read it.
    const owner = statSync(pgDir);
    for (const file of ['server.crt', 'server.key']) {
      copyFileSync(join(dir, file), join(pgDir, file));
      chownSync(join(pgDir, file), owner.uid, owner.gid);
      chmodSync(join(pgDir, file), 0o600);
    }
    writeFileSync(hba, `hostnossl all all all reject\n${readFileSync(hba, 'utf8')}`);
    await admin`alter system set ssl = on`;
    await admin`alter system set ssl_cert_file = 'server.crt'`;
    await admin`alter system set ssl_key_file = 'server.key'`;
    await admin`select pg_reload_conf()`;
  } finally {
    await admin.end();
  }
}

/** The TLS server's URL for a database, with a host and libpq parameters. */
function tlsUrl(database: string, host: string, params: Record<string, string>): string {
  const url = new URL(plainUrl);
  url.hostname = host;
  url.pathname = `/${database}`;
  for (const [k, v] of Object.entries(params)) url.searchParams.set(k, v);
  return url.toString();
}

/** A superuser client on the TLS server (the test's own, with TLS but no checks). */
function tlsAdmin() {
  return postgres(tlsUrl('postgres', '127.0.0.1', {}), { max: 1, onnotice: () => {}, ssl: 'require' });
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'silo-tls-'));
  makeCertificates();
  server = await startEmbeddedPostgres(dir, { port: await freePort() });
  plainUrl = new URL(server.url);
  password = decodeURIComponent(plainUrl.password);
  await enableTls();
  // pg_reload_conf() only signals: wait until the server answers over TLS and refuses plain logins.
  for (let i = 0; ; i++) {
    const plain = postgres(plainUrl.toString(), { max: 1, onnotice: () => {}, connect_timeout: 2 });
    const refused = await plain`select 1`.then(
      () => false,
      () => true,
    );
    await plain.end();
    if (refused) break;
    if (i > 50) throw new Error('the TLS server still takes plain connections');
    await new Promise((r) => setTimeout(r, 100));
  }
}, 60_000);

afterAll(async () => {
  await server?.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** A whole Silo whose management database (and so its default server) is on the TLS server. */
async function openTlsSilo(databaseUrl: string, env: Record<string, string> = {}) {
  const logs: string[] = [];
  const dataDir = mkdtempSync(join(tmpdir(), 'silo-tls-data-'));
  const config = loadConfig({ DATABASE_URL: databaseUrl, SILO_DATA_DIR: dataDir, SILO_DB_PREFIX: `t${randomName(6)}`, ...env });
  const destination = new Writable({
    write(chunk, _encoding, done) {
      logs.push(String(chunk));
      done();
    },
  });
  try {
    const silo = await openSilo(config, { prepareTemplates: true, listen: true, logDestination: destination });
    return { silo, logs, dataDir };
  } catch (error) {
    rmSync(dataDir, { recursive: true, force: true });
    throw error;
  }
}

async function createDatabase(name: string): Promise<void> {
  const admin = tlsAdmin();
  await admin`create database ${admin(name)}`;
  await admin.end();
}

async function errorOf(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected a failure');
}

describe('a Silo on a verify-full URL', () => {
  let silo: Silo | undefined;
  let dataDir: string;
  let adminToken: string;
  const management = `m${randomName(8)}`;

  beforeAll(async () => {
    await createDatabase(management);
  });

  afterAll(async () => {
    const prefix = silo?.ctx.config.dbPrefix;
    await silo?.close();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
    // What the move test left on the suite's server: the template of the server it added there.
    if (prefix) {
      const admin = postgres(serverUrl(), { max: 1, onnotice: () => {} });
      const pattern = tenantNamePattern(prefix);
      const template = templateNames(prefix);
      for (const { datname } of await admin<{ datname: string }[]>`
        select datname from pg_database where datname like ${pattern.like} or datname = ${template.database}`)
        await admin`drop database if exists ${admin(datname)} with (force)`;
      for (const { rolname } of await admin<{ rolname: string }[]>`
        select rolname from pg_roles where rolname like ${pattern.like} or rolname = ${template.owner}`)
        await admin`drop role if exists ${admin(rolname)}`;
      await admin.end();
    }
  });

  it('uses TLS on every connection: management, migrator, admin pools, operations, the pool map', async () => {
    // The CA from SILO_DB_CA_FILE: the URL names none.
    const opened = await openTlsSilo(tlsUrl(management, 'localhost', { sslmode: 'verify-full' }), { SILO_DB_CA_FILE: ca() });
    silo = opened.silo;
    dataDir = opened.dataDir;
    const app = createApp(silo.ctx);
    const adminUser = await createSystemAdmin(silo.ctx, { email: 'ops@tls.test', password: 'correct-horse-battery' });
    adminToken = (await silo.ctx.tokens.issue({ sub: adminUser.id, role: 'system_admin' })).token;
    const token = adminToken;
    const json = (method: string, path: string, body?: unknown, bearer = token) =>
      app.request(path, {
        method,
        headers: { authorization: `Bearer ${bearer}`, ...(body ? { 'content-type': 'application/json' } : {}) },
        ...(body ? { body: JSON.stringify(body) } : {}),
      });

    // Provisioning (admin pool, operations as the company's role), then a request (the pool map).
    const created = await json('POST', '/api/companies', {
      name: 'Acme',
      slug: 'acme',
      admin: { email: 'boss@acme.test', password: 'boss-password-1' },
    });
    expect(created.status, await created.clone().text()).toBe(201);
    const login = await app.request('/api/auth/login', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email: 'boss@acme.test', password: 'boss-password-1', company: 'acme' }),
    });
    expect(login.status).toBe(200);
    const companyToken = ((await login.json()) as { token: string }).token;
    const doc = await json('POST', '/api/documents', { title: 'over TLS', content: 'encrypted and verified' }, companyToken);
    expect(doc.status).toBe(201);
    expect((await json('GET', '/api/companies/acme/stats')).status).toBe(200);
    const fleet = await migrateFleet(silo.ctx, { concurrency: 2, actor: 'test' });
    expect(fleet.results.filter((r) => r.status === 'failed')).toEqual([]);

    const admin = tlsAdmin();
    try {
      const sessions = await admin<{ application_name: string; ssl: boolean }[]>`
        select a.application_name, s.ssl from pg_stat_activity a join pg_stat_ssl s using (pid)
        where a.application_name like 'silo%'`;
      const names = new Set(sessions.map((s) => s.application_name));
      expect(names).toContain('silo-management');
      expect(names).toContain('silo-tenant');
      expect(sessions.every((s) => s.ssl)).toBe(true);
    } finally {
      await admin.end();
    }
  });

  // Neon's connection URIs say sslmode=require; a Neon company's operations connection (migrations,
  // stats, first admin) checks the certificate anyway. Here the "Neon" URI names the TLS server by
  // 127.0.0.1, which its certificate does not name: only a connection that checks refuses it.
  it("checks a Neon company's certificate although its URI says sslmode=require", async () => {
    const acme = (await findCompany(silo!.ctx, 'acme'))!;
    const login = new URL(await companyDatabaseUrl(silo!.ctx, acme));
    const asNeon = (host: string) => {
      const url = tlsUrl(login.pathname.slice(1), host, { sslmode: 'require', channel_binding: 'require' });
      const withLogin = new URL(url);
      withLogin.username = login.username;
      withLogin.password = login.password;
      return {
        ...acme,
        provider: 'neon' as const,
        databaseUrlEncrypted: silo!.ctx.box.seal(withLogin.toString(), sealedAt.companyDatabaseUrl(acme.id)),
      };
    };
    const ask = async (company: typeof acme) => {
      const sql = await openAsCompany(silo!.ctx, company);
      try {
        return await sql`select current_user as user`;
      } finally {
        await sql.end();
      }
    };
    const refused = await errorOf(ask(asNeon('127.0.0.1')));
    expect(describeError(refused)).toMatch(/TLS certificate was refused/);
    // The same URI for a company of another provider: require means what it says (no check).
    expect(await ask({ ...asNeon('127.0.0.1'), provider: 'external' })).toEqual([{ user: acme.roleName }]);
    // By the name on its certificate, from a CA trusted through SILO_DB_CA_FILE: served.
    expect(await ask(asNeon('localhost'))).toEqual([{ user: acme.roleName }]);
  });

  it('moves a company off the TLS server and back onto it', async () => {
    const app = createApp(silo!.ctx);
    const token = adminToken;
    const post = (path: string, body: unknown) =>
      app.request(path, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
    const servers = (await (await app.request('/api/servers', { headers: { authorization: `Bearer ${token}` } })).json()) as {
      items: { id: string }[];
    };
    const tlsServerId = servers.items[0]!.id;
    // The suite's own server (no TLS): the move's connections to the TLS server must use TLS.
    const plain = await post('/api/servers', { name: 'plain', url: serverUrl() });
    expect(plain.status, await plain.clone().text()).toBe(201);
    const plainServerId = ((await plain.json()) as { id: string }).id;
    for (const serverId of [plainServerId, tlsServerId]) {
      const moved = await post('/api/companies/acme/move', { serverId });
      expect(moved.status, await moved.clone().text()).toBe(200);
    }
    const login = await app.request('/api/auth/login', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email: 'boss@acme.test', password: 'boss-password-1', company: 'acme' }),
    });
    const companyToken = ((await login.json()) as { token: string }).token;
    const docs = await app.request('/api/documents', { headers: { authorization: `Bearer ${companyToken}` } });
    expect(((await docs.json()) as { items: { title: string }[] }).items.map((d) => d.title)).toEqual(['over TLS']);
  });
});

describe('SILO_DB_SSLMODE', () => {
  it('raises every URL to at least its mode: a URL without sslmode is verified, a plain server refused', async () => {
    const name = `m${randomName(8)}`;
    await createDatabase(name);
    // No sslmode in the URL, sslmode=disable even: the TLS server refuses plain connections, so
    // Silo only starts if every client it opens was raised to verify-full.
    const { silo, dataDir } = await openTlsSilo(tlsUrl(name, 'localhost', { sslmode: 'disable' }), {
      SILO_DB_SSLMODE: 'verify-full',
      SILO_DB_CA_FILE: ca(),
    });
    try {
      const adminUser = await createSystemAdmin(silo.ctx, { email: 'ops@tls.test', password: 'correct-horse-battery' });
      const token = (await silo.ctx.tokens.issue({ sub: adminUser.id, role: 'system_admin' })).token;
      const add = await createApp(silo.ctx).request('/api/servers', {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ name: 'plain', url: serverUrl() }),
      });
      expect(add.status).toBe(503);
      expect(((await add.json()) as { error: { message: string } }).error.message).toMatch(/before TLS was set up/);
    } finally {
      await silo.close();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it('is refused without DATABASE_URL (the embedded server has no TLS), and when it is no sslmode', () => {
    expect(() => loadConfig({ SILO_DB_SSLMODE: 'verify-full' })).toThrow(/SILO_DB_SSLMODE: needs DATABASE_URL/);
    expect(() => loadConfig({ DATABASE_URL: serverUrl(), SILO_DB_SSLMODE: 'verify_full' })).toThrow(ConfigError);
    expect(loadConfig({ DATABASE_URL: serverUrl(), SILO_DB_SSLMODE: 'require' }).dbSslMode).toBe('require');
  });
});

describe('a refused certificate', () => {
  it('with the wrong CA stops Silo with a clear error that names no secret', async () => {
    const name = `m${randomName(8)}`;
    await createDatabase(name);
    const error = await errorOf(openTlsSilo(tlsUrl(name, 'localhost', { sslmode: 'verify-full', sslrootcert: otherCa() })));
    // What `silo` prints, and what audit rows and 503 answers say.
    expect(describeError(error)).toMatch(/^the server's TLS certificate was refused: .*SILO_DB_CA_FILE/);
    expect(describeError(error)).not.toContain(password);
  });

  it('for another host name (127.0.0.1, the certificate names localhost) is refused with verify-full, taken with verify-ca', async () => {
    const name = `m${randomName(8)}`;
    await createDatabase(name);
    const error = await errorOf(openTlsSilo(tlsUrl(name, '127.0.0.1', { sslmode: 'verify-full', sslrootcert: ca() })));
    expect(describeError(error)).toMatch(/TLS certificate was refused: .*127\.0\.0\.1/);
    expect(describeError(error)).not.toContain(password);

    const opened = await openTlsSilo(tlsUrl(name, '127.0.0.1', { sslmode: 'verify-ca', sslrootcert: ca() }));
    await opened.silo.close();
    rmSync(opened.dataDir, { recursive: true, force: true });
  });
});

// One cluster is registered once (src/operations/server-clusters.ts): the TLS server is added once,
// then its URL changed; the suite's server is this Silo's default, whose URL is changed.
describe('servers added or changed over the API', () => {
  let t: TestSilo;
  let tlsServerId: string;
  const patch = (id: string, url: string) => t.call('PATCH', `/api/servers/${id}`, { token: t.adminToken, body: { url } });

  beforeAll(async () => {
    t = await createTestSilo();
  });

  afterAll(async () => {
    await t?.close();
  });

  it('take a verify-full URL with its own sslrootcert, and serve a company on it', async () => {
    const added = await t.call('POST', '/api/servers', {
      token: t.adminToken,
      body: { name: 'tls', url: tlsUrl('postgres', 'localhost', { sslmode: 'verify-full', sslrootcert: ca() }) },
    });
    expect(added.status, added.text).toBe(201);
    tlsServerId = added.body.id;
    const created = await t.call('POST', '/api/companies', {
      token: t.adminToken,
      body: { name: 'On TLS', slug: 'ontls', serverId: added.body.id, admin: { email: 'boss@ontls.test', password: 'boss-password-1' } },
    });
    expect(created.status, created.text).toBe(201);
    const login = await t.call('POST', '/api/auth/login', {
      token: null,
      body: { email: 'boss@ontls.test', password: 'boss-password-1', company: 'ontls' },
    });
    expect(login.status).toBe(200);
    expect((await t.call('GET', '/api/documents', { token: login.body.token })).status).toBe(200);
  });

  it('refuse a URL whose server certificate is not from its CA, without the URL in the answer', async () => {
    const res = await patch(tlsServerId, tlsUrl('postgres', 'localhost', { sslmode: 'verify-full', sslrootcert: otherCa() }));
    expect(res.status).toBe(503);
    expect(res.body.error.message).toMatch(/TLS certificate was refused/);
    expect(res.text).not.toContain(password);
  });

  it('refuse sslmode=require to a server without TLS, clearly', async () => {
    const url = new URL(serverUrl());
    url.searchParams.set('sslmode', 'require');
    const servers = (await t.call('GET', '/api/servers', { token: t.adminToken })).body.items as { id: string; name: string }[];
    const res = await patch(servers.find((s) => s.name === 'default')!.id, url.toString());
    expect(res.status).toBe(503);
    expect(res.body.error.message).toMatch(/closed the connection before TLS was set up: it may not accept TLS/);
    expect(res.text).not.toContain(url.password);
  });

  it('warn once per server when a URL asks for TLS without checking the certificate, never with the URL', async () => {
    const url = tlsUrl('postgres', 'localhost', { sslmode: 'require' });
    const first = await patch(tlsServerId, url);
    expect(first.status, first.text).toBe(200);
    await t.call('GET', '/api/servers', { token: t.adminToken });
    const warnings = t.logs.filter((line) => line.includes('sslmode=require') && line.includes(`localhost:${plainUrl.port}`));
    expect(warnings, warnings.join('\n')).toHaveLength(1);
    expect(warnings[0]).not.toContain(password);
  });

  it('and external databases: verify-full is honoured, a certificate from another CA refused clearly', async () => {
    const admin = tlsAdmin();
    const ownerPassword = `pw-${randomName(16)}`;
    try {
      await admin.unsafe(`create role byo_tls_owner login password '${ownerPassword}'`);
      await admin.unsafe('create database byo_tls owner byo_tls_owner');
    } finally {
      await admin.end();
    }
    const external = (rootCert: string) => {
      const url = new URL(tlsUrl('byo_tls', 'localhost', { sslmode: 'verify-full', sslrootcert: rootCert }));
      url.username = 'byo_tls_owner';
      url.password = ownerPassword;
      return url.toString();
    };
    const admin1 = { email: 'boss@byo.test', password: 'boss-password-1' };
    const refused = await t.call('POST', '/api/companies', {
      token: t.adminToken,
      body: { name: 'BYO', slug: 'byo', admin: admin1, externalDatabaseUrl: external(otherCa()) },
    });
    expect(refused.status).toBe(503);
    expect(refused.body.error.message).toMatch(/TLS certificate was refused/);
    expect(refused.text).not.toContain(ownerPassword);
    const created = await t.call('POST', '/api/companies', {
      token: t.adminToken,
      body: { name: 'BYO', slug: 'byo', admin: admin1, externalDatabaseUrl: external(ca()) },
    });
    expect(created.status, created.text).toBe(201);
    const login = await t.call('POST', '/api/auth/login', { token: null, body: { ...admin1, company: 'byo' } });
    expect(login.status).toBe(200);
    expect((await t.call('GET', '/api/documents', { token: login.body.token })).status).toBe(200);
  });

  it('refuse an sslmode that does not exist', async () => {
    const res = await patch(tlsServerId, tlsUrl('postgres', 'localhost', { sslmode: 'verify_full' }));
    expect(res.status).toBe(400);
    expect(res.body.error.message).toMatch(/sslmode must be one of/);
  });
});
