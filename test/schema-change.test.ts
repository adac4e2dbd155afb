// The worked example of a tenant schema change in docs/migrations.md, followed as written: the
// column, the command and the SQL are read from that section, so the example cannot drift from
// what works. On a copy of src/data-plane/schema.ts and of migrations/tenant/ (inside the
// repository's node_modules/.cache, where the copy's imports resolve), the edit is made, drizzle-kit
// generates the migration, its SQL is compared with the documented one, and `silo migrate` rolls it
// out to a fleet; then the column is checked in every company and in one created afterwards.
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrationsFolder } from '../src/bootstrap.ts';
import { loadMigrationSet } from '../src/base/db/migration-set.ts';
import { rowsOf } from '../src/data-plane/tenant-db.ts';
import { cliFor } from './support/cli.ts';
import { createTestSilo, type TestSilo } from './support/test-silo.ts';

const root = join(import.meta.dirname, '..');
const section = (() => {
  const doc = readFileSync(join(root, 'docs/migrations.md'), 'utf8');
  const start = doc.indexOf('### Worked example: a `priority` on documents');
  return doc.slice(start, doc.indexOf('\n## ', start));
})();
/** The fenced blocks of one language in the section, each trimmed of its indentation. */
const blocks = (language: string) =>
  [...section.matchAll(new RegExp(`\`\`\`${language}\\n([\\s\\S]*?)\`\`\``, 'g'))].map((m) =>
    m[1]!
      .split('\n')
      .map((line) => line.trim())
      .filter(Boolean),
  );

const slugs = ['prio-a', 'prio-b', 'prio-c', 'prio-d'];
let t: TestSilo;
let work: string;
let silo: ReturnType<typeof cliFor>;

async function columnsOfDocuments(slug: string): Promise<string[]> {
  const company = (await t.call('GET', `/api/companies/${slug}`, { token: t.adminToken })).body;
  const found = await t.ctx.tenants.run((await t.ctx.tenants.company(company.id))!, (db) =>
    db.execute(sql`select column_name as name from information_schema.columns where table_name = 'documents'`),
  );
  return rowsOf<{ name: string }>(found).map((r) => r.name);
}

beforeAll(async () => {
  const cache = join(root, 'node_modules', '.cache');
  mkdirSync(cache, { recursive: true });
  work = mkdtempSync(join(cache, 'silo-schema-change-'));
  cpSync(join(root, 'src/data-plane/schema.ts'), join(work, 'schema.ts'));
  cpSync(migrationsFolder('tenant'), join(work, 'migrations'), { recursive: true });
  // drizzle-kit takes the paths relative to where it runs (the repository root, as in the docs).
  const relative = work.slice(root.length + 1);
  writeFileSync(
    join(work, 'drizzle.config.ts'),
    `export default { dialect: 'postgresql', schema: './${relative}/schema.ts', out: './${relative}/migrations' };\n`,
  );
  t = await createTestSilo({ tenantMigrationsFolder: join(work, 'migrations') });
  silo = cliFor(t, { tenantMigrationsFolder: join(work, 'migrations') });
  for (const slug of slugs) {
    const created = await t.call('POST', '/api/companies', {
      token: t.adminToken,
      body: { name: slug, slug, admin: { email: `boss@${slug}.test` } },
    });
    expect(created.status, created.text).toBe(201);
  }
}, 120_000);

afterAll(async () => {
  await t?.close();
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('the worked example of adding a column', () => {
  it('steps 1 to 3: the documented edit generates the documented SQL', () => {
    // Step 1: the column after `content` in documents, and `integer` imported.
    const [[column]] = blocks('ts') as [[string]];
    expect(column).toBe("priority: integer('priority').notNull().default(0),");
    const schemaPath = join(work, 'schema.ts');
    let schema = readFileSync(schemaPath, 'utf8');
    const inDocuments = schema.indexOf("content: text('content').notNull(),", schema.indexOf('export const documents'));
    expect(inDocuments).toBeGreaterThan(0);
    const lineEnd = schema.indexOf('\n', inDocuments) + 1;
    schema = `${schema.slice(0, lineEnd)}    ${column}\n${schema.slice(lineEnd)}`;
    schema = schema.replace(
      /import \{ ([^}]*) \} from 'drizzle-orm\/pg-core';/,
      (_, names: string) => `import { ${names}, integer } from 'drizzle-orm/pg-core';`,
    );
    writeFileSync(schemaPath, schema);

    // Step 2: the documented command, pointed at the copy.
    const [[command]] = blocks('sh') as [[string]];
    const args = command.split(' ');
    expect(args.slice(0, 3)).toEqual(['npx', 'drizzle-kit', 'generate']);
    execFileSync('npx', [...args.slice(1), '--config', join(work, 'drizzle.config.ts')], { cwd: root, stdio: 'pipe' });

    // Step 3: one new file, named as documented, holding exactly the documented SQL.
    const before = readdirSync(migrationsFolder('tenant')).filter((f) => f.endsWith('.sql'));
    const added = readdirSync(join(work, 'migrations')).filter((f) => f.endsWith('.sql') && !before.includes(f));
    expect(added).toEqual([`${String(before.length).padStart(4, '0')}_priority.sql`]);
    const [expectedSql] = blocks('sql') as [string[]];
    expect(readFileSync(join(work, 'migrations', added[0]!), 'utf8').trim()).toBe(expectedSql!.join('\n'));
    const journal = JSON.parse(readFileSync(join(work, 'migrations/meta/_journal.json'), 'utf8'));
    expect(journal.entries.at(-1).tag).toBe(added[0]!.replace(/\.sql$/, ''));
  });

  it('step 4 names files that exist', () => {
    const paths = [...section.matchAll(/`((?:src|test)\/[^`]+\.ts)`/g)].map((m) => m[1]!);
    expect(paths.length).toBeGreaterThanOrEqual(4);
    for (const path of paths) expect(existsSync(join(root, path)), path).toBe(true);
  });

  it('step 6: silo migrate plans it for every company, applies it, and reports them all at it', async () => {
    const tag = readdirSync(join(work, 'migrations'))
      .filter((f) => f.endsWith('_priority.sql'))[0]!
      .replace(/\.sql$/, '');
    const commands = blocks('sh')[1]!;
    expect(commands).toEqual(['npx silo migrate plan', 'npx silo migrate apply', 'npx silo migrate status']);

    const plan = await silo('migrate', 'plan', '--json');
    expect(plan.code, plan.stderr).toBe(0);
    expect(plan.stdout).toContain(tag);
    const apply = await silo('migrate', 'apply', '--json');
    expect(apply.code, apply.stderr).toBe(0);
    const status = await silo('migrate', 'status', '--json');
    expect(JSON.parse(status.stdout)).toMatchObject({ behind: 0, versions: [{ version: tag, companies: slugs.length }] });
    for (const slug of slugs) expect(await columnsOfDocuments(slug), slug).toContain('priority');

    // A company created after the deploy is born with the column: this instance restarts with the
    // new code (its migration set is read again) and migrates its template.
    t.ctx.tenantMigrations = loadMigrationSet(join(work, 'migrations'));
    const born = await t.call('POST', '/api/companies', {
      token: t.adminToken,
      body: { name: 'Born', slug: 'prio-born', admin: { email: 'b@born.test' } },
    });
    expect(born.status, born.text).toBe(201);
    expect(born.body.schemaVersion).toBe(tag);
    expect(await columnsOfDocuments('prio-born')).toContain('priority');
  });
});
