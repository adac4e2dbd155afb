// Shared reference data against real PostgreSQL: the shared database beside the management one, out
// of every company role's reach (it cannot connect, and could not write if it did); system admins'
// shared templates merged with each company's own, a company's overriding the shared one with the
// same key for that company only; documents made from either; the rules on keys and sizes; 20
// readers over four companies while a system admin edits; a company's backup and restore carrying
// its own templates and not the shared ones; the `silo shared templates` commands.
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sharedDatabaseName } from '../src/base/names.ts';
import { findCompany } from '../src/control-plane/company-records.ts';
import { companyDatabaseUrl } from '../src/data-plane/company-database.ts';
import { takeBackup } from '../src/operations/backups/backups.ts';
import { restoreCompany } from '../src/operations/backups/restore-in-place.ts';
import { cliFor } from './support/cli.ts';
import { companyToken } from './support/company-login.ts';
import { createTestSilo, serverUrl, type TestSilo } from './support/test-silo.ts';

let t: TestSilo;
const SLUGS = ['tpl-alpha', 'tpl-beta', 'tpl-gamma', 'tpl-delta'] as const;
const admins: Record<string, string> = {};
let member: string;

const asAdmin = (method: string, path: string, body?: unknown) => t.call(method, path, { token: t.adminToken, body });
const errorShape = (code: string) => ({ error: expect.objectContaining({ code, message: expect.any(String) }) });

beforeAll(async () => {
  t = await createTestSilo();
  for (const slug of SLUGS) {
    const admin = { email: `boss@${slug}.test`, password: 'boss-password' };
    const created = await asAdmin('POST', '/api/companies', { name: slug, slug, admin });
    expect(created.status, created.text).toBe(201);
    admins[slug] = await companyToken(t, admin.email, admin.password, slug);
  }
  const added = await t.call('POST', '/api/users', {
    token: admins['tpl-alpha']!,
    body: { email: 'member@tpl-alpha.test', role: 'member', password: 'member-password' },
  });
  expect(added.status).toBe(201);
  member = await companyToken(t, 'member@tpl-alpha.test', 'member-password', 'tpl-alpha');
});
afterAll(async () => {
  await t?.close();
});

/** Every template a company user sees, page after page. */
async function templatesSeenBy(token: string, limit = 200) {
  const items: { key: string; title: string; content: string; tags: string[]; source: string }[] = [];
  let cursor: string | null = null;
  do {
    const res = await t.call('GET', `/api/templates?limit=${limit}${cursor ? `&cursor=${cursor}` : ''}`, { token });
    expect(res.status, res.text).toBe(200);
    items.push(...res.body.items);
    cursor = res.body.nextCursor;
  } while (cursor);
  return items;
}

describe('the shared database', () => {
  it('is created and migrated beside the management database, closed to PUBLIC', async () => {
    const name = sharedDatabaseName(t.config.dbPrefix);
    const [row] = await t.admin<{ public: boolean }[]>`
      select has_database_privilege('public', oid, 'CONNECT') as public from pg_database where datname = ${name}`;
    expect(row).toEqual({ public: false });
    const shared = postgres(serverUrl(name), { max: 1, onnotice: () => {} });
    try {
      const tables = await shared<{ table_name: string }[]>`
        select table_name from information_schema.tables where table_schema = 'public' order by 1`;
      expect(tables.map((r) => r.table_name)).toEqual(['shared_templates']);
      const [applied] = await shared<{ n: number }[]>`select count(*)::int as n from drizzle.__drizzle_migrations`;
      expect(applied!.n).toBeGreaterThanOrEqual(1);
    } finally {
      await shared.end();
    }
  });

  it("refuses a company's own role: it cannot connect, and could not read or write if it were let in", async () => {
    const company = (await findCompany(t.ctx, 'tpl-alpha'))!;
    const url = new URL(await companyDatabaseUrl(t.ctx, company));
    url.pathname = `/${sharedDatabaseName(t.config.dbPrefix)}`;
    const attempt = async (run: (sql: postgres.Sql) => Promise<unknown>) => {
      const sql = postgres(url.toString(), { max: 1, onnotice: () => {} });
      try {
        return await run(sql).then(
          () => 'done',
          (error: { code?: string }) => error.code,
        );
      } finally {
        await sql.end({ timeout: 1 });
      }
    };
    expect(await attempt((sql) => sql`select 1`)).toBe('42501');

    // An operator's mistake lets it connect: the tables are still not its to read or write.
    const shared = t.admin(sharedDatabaseName(t.config.dbPrefix));
    await t.admin`grant connect on database ${shared} to ${t.admin(company.roleName!)}`;
    try {
      expect(await attempt((sql) => sql`insert into shared_templates (key, title, content) values ('planted', 'x', 'y')`)).toBe('42501');
      expect(await attempt((sql) => sql`update shared_templates set title = 'x'`)).toBe('42501');
      expect(await attempt((sql) => sql`select * from shared_templates`)).toBe('42501');
      expect(await attempt((sql) => sql`create table planted (x int)`)).toBe('42501');
    } finally {
      await t.admin`revoke connect on database ${shared} from ${t.admin(company.roleName!)}`;
    }
  });

  it("is out of reach of the company's SQL console", async () => {
    const res = await t.call('POST', '/api/sql', {
      token: admins['tpl-alpha']!,
      body: { sql: `select * from "${sharedDatabaseName(t.config.dbPrefix)}".public.shared_templates` },
    });
    expect(res.status).toBe(400);
    expect(res.body.error.details).toEqual({ sqlState: '0A000' });
  });
});

describe('shared templates (system admins)', () => {
  it('are created, listed in key order page by page, changed and removed', async () => {
    for (const key of ['crud-c', 'crud-a', 'crud-b']) {
      const res = await asAdmin('POST', '/api/shared/templates', {
        key,
        title: `Title ${key}`,
        content: `Body of ${key}\n`,
        tags: ['crud'],
      });
      expect(res.status, res.text).toBe(201);
      expect(res.body).toMatchObject({ key, title: `Title ${key}`, content: `Body of ${key}\n`, tags: ['crud'] });
    }
    const first = await asAdmin('GET', '/api/shared/templates?limit=2');
    expect(first.body.items.map((i: { key: string }) => i.key)).toEqual(['crud-a', 'crud-b']);
    const second = await asAdmin('GET', `/api/shared/templates?limit=2&cursor=${first.body.nextCursor}`);
    expect(second.body.items.map((i: { key: string }) => i.key)).toContain('crud-c');

    const changed = await asAdmin('PATCH', '/api/shared/templates/crud-a', { tags: ['one', 'two'] });
    expect(changed.status).toBe(200);
    expect(changed.body).toMatchObject({ key: 'crud-a', title: 'Title crud-a', tags: ['one', 'two'] });
    for (const key of ['crud-a', 'crud-b', 'crud-c']) expect((await asAdmin('DELETE', `/api/shared/templates/${key}`)).status).toBe(204);
    const after = await asAdmin('GET', '/api/shared/templates?limit=200');
    expect(after.body.items.filter((i: { key: string }) => i.key.startsWith('crud-'))).toEqual([]);
  });

  it('refuse bad keys, sizes and fields with 400, a taken key with 409, an unknown key with 404', async () => {
    const valid = { key: 'valid-key', title: 'T', content: 'C' };
    const refused = [
      { ...valid, key: 'Upper' },
      { ...valid, key: 'a' },
      { ...valid, key: 'ends-' },
      { ...valid, key: '9starts-with-digit' },
      { ...valid, key: 'x'.repeat(65) },
      { ...valid, title: '' },
      { ...valid, title: 'x'.repeat(201) },
      { ...valid, content: 'x'.repeat(100_001) },
      { ...valid, content: 'nul \u0000 inside' },
      { ...valid, tags: Array.from({ length: 21 }, (_, i) => `t${i}`) },
      { ...valid, tags: ['x'.repeat(51)] },
      { ...valid, source: 'company' },
      { key: 'no-content', title: 'T' },
    ];
    for (const body of refused) {
      const res = await asAdmin('POST', '/api/shared/templates', body);
      expect(res.status, JSON.stringify(body).slice(0, 80)).toBe(400);
      expect(res.body).toEqual(errorShape('validation_failed'));
    }
    expect((await asAdmin('POST', '/api/shared/templates', valid)).status).toBe(201);
    expect(await asAdmin('POST', '/api/shared/templates', valid)).toMatchObject({ status: 409, body: errorShape('conflict') });
    expect((await asAdmin('PATCH', '/api/shared/templates/valid-key', {})).status).toBe(400);
    expect((await asAdmin('PATCH', '/api/shared/templates/no-such-key', { title: 'x' })).status).toBe(404);
    expect((await asAdmin('DELETE', '/api/shared/templates/no-such-key')).status).toBe(404);
    expect((await asAdmin('DELETE', '/api/shared/templates/BAD')).status).toBe(400);
    expect((await asAdmin('GET', '/api/shared/templates?cursor=bm90LWEta2V5')).status).toBe(400);
    // Nothing half-made: the refused bodies left no template behind.
    const keys = (await asAdmin('GET', '/api/shared/templates?limit=200')).body.items.map((i: { key: string }) => i.key);
    expect(keys.filter((k: string) => k !== 'valid-key' && !k.startsWith('merge-') && !k.startsWith('load-'))).toEqual([]);
    expect((await asAdmin('DELETE', '/api/shared/templates/valid-key')).status).toBe(204);
  });

  it('are for system admins only', async () => {
    const body = { key: 'not-mine', title: 'T', content: 'C' };
    expect((await t.call('POST', '/api/shared/templates', { token: admins['tpl-alpha']!, body })).status).toBe(403);
    expect((await t.call('GET', '/api/shared/templates', { token: admins['tpl-alpha']! })).status).toBe(403);
    expect((await t.call('GET', '/api/templates', { token: t.adminToken })).status).toBe(403);
  });
});

describe("a company's templates", () => {
  beforeAll(async () => {
    for (const key of ['merge-invoice', 'merge-letter', 'merge-memo']) {
      const res = await asAdmin('POST', '/api/shared/templates', {
        key,
        title: `Shared ${key}`,
        content: `shared ${key}`,
        tags: ['shared'],
      });
      expect(res.status).toBe(201);
    }
  });

  it("are the shared ones merged with the company's own, its own winning, for that company only", async () => {
    const put = await t.call('PUT', '/api/templates/merge-letter', {
      token: admins['tpl-alpha']!,
      body: { title: 'Alpha letter', content: 'Dear customer of Alpha', tags: ['alpha'] },
    });
    expect(put.status, put.text).toBe(201);
    expect(put.body).toMatchObject({ key: 'merge-letter', source: 'company', title: 'Alpha letter' });
    const own = await t.call('PUT', '/api/templates/merge-alpha-only', {
      token: admins['tpl-alpha']!,
      body: { title: 'Alpha only', content: 'x' },
    });
    expect(own.status).toBe(201);
    expect(own.body.tags).toEqual([]);

    const alpha = (await templatesSeenBy(member)).filter((i) => i.key.startsWith('merge-'));
    expect(alpha.map((i) => [i.key, i.source, i.title])).toEqual([
      ['merge-alpha-only', 'company', 'Alpha only'],
      ['merge-invoice', 'shared', 'Shared merge-invoice'],
      ['merge-letter', 'company', 'Alpha letter'],
      ['merge-memo', 'shared', 'Shared merge-memo'],
    ]);
    // Page by page, one at a time, the same list.
    expect((await templatesSeenBy(member, 1)).filter((i) => i.key.startsWith('merge-'))).toEqual(alpha);

    const beta = (await templatesSeenBy(admins['tpl-beta']!)).filter((i) => i.key.startsWith('merge-'));
    expect(beta.map((i) => [i.key, i.source])).toEqual([
      ['merge-invoice', 'shared'],
      ['merge-letter', 'shared'],
      ['merge-memo', 'shared'],
    ]);
    expect(JSON.stringify(beta)).not.toContain('Alpha');
  });

  it('are replaced by PUT (200) and removed by DELETE, the shared one showing again', async () => {
    const token = admins['tpl-gamma']!;
    const body = { title: 'Gamma memo', content: 'v1' };
    expect((await t.call('PUT', '/api/templates/merge-memo', { token, body })).status).toBe(201);
    const replaced = await t.call('PUT', '/api/templates/merge-memo', { token, body: { ...body, content: 'v2', tags: ['g'] } });
    expect(replaced.status).toBe(200);
    expect(replaced.body).toMatchObject({ content: 'v2', tags: ['g'], source: 'company' });
    expect((await t.call('DELETE', '/api/templates/merge-memo', { token })).status).toBe(204);
    expect((await t.call('DELETE', '/api/templates/merge-memo', { token })).status).toBe(404);
    const memo = (await templatesSeenBy(token)).find((i) => i.key === 'merge-memo');
    expect(memo).toMatchObject({ source: 'shared', title: 'Shared merge-memo' });
    // Deleting on the company plane never touches the shared template.
    expect((await asAdmin('GET', '/api/shared/templates?limit=200')).body.items.map((i: { key: string }) => i.key)).toContain('merge-memo');
  });

  it('are written by company admins only, with the same rules as shared ones', async () => {
    const body = { title: 'T', content: 'C' };
    expect(await t.call('PUT', '/api/templates/merge-x', { token: member, body })).toMatchObject({
      status: 403,
      body: errorShape('forbidden'),
    });
    expect((await t.call('DELETE', '/api/templates/merge-letter', { token: member })).status).toBe(403);
    const token = admins['tpl-delta']!;
    for (const [key, bad] of [
      ['Bad_Key', body],
      ['merge-ok', { title: 'T' }],
      ['merge-ok', { ...body, title: 'x'.repeat(201) }],
      ['merge-ok', { ...body, key: 'other' }],
    ] as const) {
      const res = await t.call('PUT', `/api/templates/${key}`, { token, body: bad });
      expect(res.status, key).toBe(400);
    }
    expect((await templatesSeenBy(token)).some((i) => i.key === 'merge-ok' || i.source === 'company')).toBe(false);
  });

  it('make documents: from the company one, the shared one, with a title of its own; 404 for an unknown key', async () => {
    const token = admins['tpl-alpha']!;
    const fromOwn = await t.call('POST', '/api/documents', { token, body: { fromTemplate: 'merge-letter' } });
    expect(fromOwn.status, fromOwn.text).toBe(201);
    expect(fromOwn.body).toMatchObject({
      title: 'Alpha letter',
      content: 'Dear customer of Alpha',
      tags: ['alpha'],
      metadata: { template: { key: 'merge-letter', source: 'company' } },
    });
    const fromShared = await t.call('POST', '/api/documents', {
      token: member,
      body: { fromTemplate: 'merge-invoice', title: 'Invoice 42' },
    });
    expect(fromShared.status).toBe(201);
    expect(fromShared.body).toMatchObject({
      title: 'Invoice 42',
      content: 'shared merge-invoice',
      tags: ['shared'],
      metadata: { template: { key: 'merge-invoice', source: 'shared' } },
    });
    const read = await t.call('GET', `/api/documents/${fromShared.body.id}`, { token });
    expect(read.body.content).toBe('shared merge-invoice');

    expect(await t.call('POST', '/api/documents', { token, body: { fromTemplate: 'no-such-template' } })).toMatchObject({
      status: 404,
      body: errorShape('not_found'),
    });
    // Another company's own template is not this company's to use.
    expect((await t.call('POST', '/api/documents', { token, body: { fromTemplate: 'merge-alpha-only' } })).status).toBe(201);
    expect(
      (await t.call('POST', '/api/documents', { token: admins['tpl-beta']!, body: { fromTemplate: 'merge-alpha-only' } })).status,
    ).toBe(404);
    for (const body of [
      { fromTemplate: 'merge-letter', content: 'both' },
      { fromTemplate: 'merge-letter', tags: ['x'] },
      { fromTemplate: 'Not A Key' },
      { title: 'no content' },
      {},
    ]) {
      const res = await t.call('POST', '/api/documents', { token, body });
      expect(res.status, JSON.stringify(body)).toBe(400);
    }
    // The plain form still works as before.
    expect((await t.call('POST', '/api/documents', { token, body: { title: 'Plain', content: 'plain' } })).status).toBe(201);
  });
});

describe('many readers while a system admin edits', () => {
  it('20 clients over four companies always see a whole, merged, ordered list', async () => {
    const overrides = new Map(SLUGS.map((slug) => [slug, `Own load-0 of ${slug}`]));
    for (const slug of SLUGS) {
      const res = await t.call('PUT', '/api/templates/load-0', {
        token: admins[slug]!,
        body: { title: overrides.get(slug)!, content: slug },
      });
      expect(res.status).toBe(201);
    }
    let editing = true;
    const edits = (async () => {
      for (let i = 0; i < 25; i++) {
        const key = `load-${(i % 5) + 1}`;
        const create = await asAdmin('POST', '/api/shared/templates', { key, title: `Shared ${key} #${i}`, content: `c${i}` });
        if (create.status === 409)
          expect((await asAdmin('PATCH', `/api/shared/templates/${key}`, { title: `Shared ${key} #${i}` })).status).toBe(200);
        else expect(create.status).toBe(201);
        if (i % 3 === 2) expect((await asAdmin('DELETE', `/api/shared/templates/${key}`)).status).toBe(204);
        // The shared load-0 comes and goes: every company's own load-0 must win throughout.
        if (i % 4 === 0) await asAdmin('POST', '/api/shared/templates', { key: 'load-0', title: 'Shared load-0', content: 's' });
        if (i % 4 === 2) await asAdmin('DELETE', '/api/shared/templates/load-0');
      }
      editing = false;
    })();
    const problems: string[] = [];
    let reads = 0;
    const readers = Array.from({ length: 20 }, async (_, n) => {
      const slug = SLUGS[n % SLUGS.length]!;
      while (editing || reads < 100) {
        const res = await t.call('GET', '/api/templates?limit=200', { token: admins[slug]! });
        reads++;
        if (res.status !== 200) {
          problems.push(`${slug}: ${res.status} ${res.text}`);
          continue;
        }
        const items: { key: string; title: string; source: string }[] = res.body.items;
        const keys = items.map((i) => i.key);
        if (keys.join() !== [...new Set(keys)].sort().join()) problems.push(`${slug}: keys not unique and ordered: ${keys}`);
        const load0 = items.find((i) => i.key === 'load-0');
        if (load0?.source !== 'company' || load0.title !== overrides.get(slug))
          problems.push(`${slug}: load-0 is ${JSON.stringify(load0)}`);
        for (const item of items) {
          if (item.source === 'company' && item.key !== 'load-0' && !(slug === 'tpl-alpha' && item.key.startsWith('merge-')))
            problems.push(`${slug}: another company's template ${item.key}`);
        }
      }
    });
    await Promise.all([edits, ...readers]);
    expect(problems).toEqual([]);
    expect(reads).toBeGreaterThanOrEqual(100);
    // When the edits are over, every company sees the same shared templates.
    const shared = (await asAdmin('GET', '/api/shared/templates?limit=200')).body.items.map((i: { key: string }) => i.key);
    for (const slug of SLUGS) {
      const seen = await templatesSeenBy(admins[slug]!);
      const own = new Set(seen.filter((i) => i.source === 'company').map((i) => i.key));
      const fromShared = seen.filter((i) => i.source === 'shared').map((i) => i.key);
      expect(fromShared, slug).toEqual(shared.filter((k: string) => !own.has(k)));
    }
  });
});

describe('backup and restore', () => {
  it("carry the company's own templates and leave the shared ones as they are", async () => {
    const slug = 'tpl-beta';
    const token = admins[slug]!;
    await asAdmin('POST', '/api/shared/templates', { key: 'backup-shared', title: 'Shared before', content: 'before' });
    expect((await t.call('PUT', '/api/templates/backup-own', { token, body: { title: 'Own before', content: 'before' } })).status).toBe(
      201,
    );

    const backup = await takeBackup(t.ctx, slug, 'test');
    // load-0 (put by the test above) and backup-own.
    expect(backup.tables).toMatchObject({ templates: 2 });
    expect(Object.keys(backup.tables ?? {})).not.toContain('shared_templates');

    expect((await asAdmin('PATCH', '/api/shared/templates/backup-shared', { title: 'Shared after' })).status).toBe(200);
    expect((await t.call('PUT', '/api/templates/backup-own', { token, body: { title: 'Own after', content: 'after' } })).status).toBe(200);
    expect((await t.call('PUT', '/api/templates/backup-later', { token, body: { title: 'Later', content: 'x' } })).status).toBe(201);

    await restoreCompany(t.ctx, slug, backup.id, 'test');
    const seen = (await templatesSeenBy(await companyToken(t, `boss@${slug}.test`, 'boss-password', slug))).filter((i) =>
      i.key.startsWith('backup-'),
    );
    expect(seen.map((i) => [i.key, i.source, i.title])).toEqual([
      ['backup-own', 'company', 'Own before'],
      ['backup-shared', 'shared', 'Shared after'],
    ]);
  });
});

describe('silo shared templates', () => {
  it('lists, puts (creating, then replacing) and deletes shared templates', async () => {
    const silo = cliFor(t);
    const created = await silo(
      'shared',
      'templates',
      'put',
      'cli-notes',
      '--title',
      'Notes',
      '--content',
      'From the CLI',
      '--tag',
      'a',
      'b',
    );
    expect(created, created.stderr).toMatchObject({ code: 0, stdout: 'created shared template cli-notes\n' });
    const replaced = await silo('shared', 'templates', 'put', 'cli-notes', '--title', 'Notes 2', '--content', 'again', '--json');
    expect(replaced.code).toBe(0);
    expect(JSON.parse(replaced.stdout)).toMatchObject({ key: 'cli-notes', title: 'Notes 2', content: 'again', tags: [] });
    const listed = await silo('shared', 'templates', 'list');
    expect(listed.stdout).toMatch(/^KEY\s+TITLE/);
    expect(listed.stdout).toMatch(/cli-notes\s+Notes 2/);
    const json = JSON.parse((await silo('shared', 'templates', 'list', '--json')).stdout);
    expect(json.items.find((i: { key: string }) => i.key === 'cli-notes')).toMatchObject({ content: 'again' });
    // A company sees it at once.
    expect((await templatesSeenBy(admins['tpl-delta']!)).find((i) => i.key === 'cli-notes')).toMatchObject({ source: 'shared' });

    expect(await silo('shared', 'templates', 'delete', 'cli-notes')).toMatchObject({
      code: 0,
      stdout: 'deleted shared template cli-notes\n',
    });
    expect(await silo('shared', 'templates', 'delete', 'cli-notes')).toMatchObject({
      code: 1,
      stderr: expect.stringContaining('not found'),
    });
  });

  it('refuses a bad key, a missing or doubled content, and an oversized title before touching anything', async () => {
    const silo = cliFor(t);
    expect(await silo('shared', 'templates', 'put', 'Bad Key', '--title', 'x', '--content', 'y')).toMatchObject({
      code: 2,
      stderr: expect.stringContaining('<key> must be'),
    });
    expect((await silo('shared', 'templates', 'put', 'cli-x', '--title', 'x')).code).toBe(2);
    expect((await silo('shared', 'templates', 'put', 'cli-x', '--title', 'x', '--content', 'y', '--content-file', '/nope')).code).toBe(2);
    expect(await silo('shared', 'templates', 'put', 'cli-x', '--title', 'x', '--content-file', '/no/such/file')).toMatchObject({
      code: 2,
      stderr: expect.stringContaining('ENOENT'),
    });
    expect(await silo('shared', 'templates', 'put', 'cli-x', '--title', 'x'.repeat(201), '--content', 'y')).toMatchObject({
      code: 2,
      stderr: expect.stringContaining('--title'),
    });
    expect((await asAdmin('GET', '/api/shared/templates?limit=200')).body.items.some((i: { key: string }) => i.key === 'cli-x')).toBe(
      false,
    );
  });
});
