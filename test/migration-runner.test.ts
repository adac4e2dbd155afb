// The per-database migration runner against real Postgres, and its agreement with drizzle's own
// migrator about what is applied.
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { drizzle } from 'drizzle-orm/postgres-js';
import { migrate } from 'drizzle-orm/postgres-js/migrator';
import { readMigrationFiles } from 'drizzle-orm/migrator';
import postgres from 'postgres';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { migrationsFolder } from '../src/bootstrap.ts';
import { loadMigrationSet } from '../src/base/db/migration-set.ts';
import { applyMigrations, MigrationFailedError, readMigrationState } from '../src/base/db/migration-runner.ts';
import { randomName, serverUrl } from './support/test-silo.ts';

const admin = () => postgres(serverUrl(), { max: 1, onnotice: () => {} });
let server: postgres.Sql;
const created: string[] = [];
const dirs: string[] = [];

beforeAll(() => {
  server = admin();
});
afterAll(async () => {
  for (const name of created) await server`drop database if exists ${server(name)} with (force)`;
  await server.end();
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

async function freshDatabase() {
  const name = `mr_${randomName(10)}`;
  await server`create database ${server(name)}`;
  created.push(name);
  return postgres(serverUrl(name), { max: 2, onnotice: () => {} });
}

/** A copy of the tenant migration set with extra migrations appended to it. */
function setWith(extra: { tag: string; sql: string; when?: number }[]) {
  const dir = mkdtempSync(join(tmpdir(), 'silo-migrations-'));
  dirs.push(dir);
  cpSync(migrationsFolder('tenant'), dir, { recursive: true });
  const journalPath = join(dir, 'meta', '_journal.json');
  const journal = JSON.parse(readFileSync(journalPath, 'utf8'));
  for (const m of extra) {
    const last = journal.entries.at(-1);
    journal.entries.push({ idx: journal.entries.length, version: '7', when: m.when ?? last.when + 1000, tag: m.tag, breakpoints: true });
    writeFileSync(join(dir, `${m.tag}.sql`), m.sql);
  }
  writeFileSync(journalPath, JSON.stringify(journal, null, 2));
  return dir;
}

const clients: postgres.Sql[] = [];
afterEach(async () => {
  for (const c of clients.splice(0)) await c.end();
});
async function database() {
  const sql = await freshDatabase();
  clients.push(sql);
  return sql;
}

describe('the runner', () => {
  it("hashes files exactly as drizzle's migrator does", () => {
    const ours = loadMigrationSet(migrationsFolder('tenant')).migrations.map((m) => [m.hash, m.createdAt]);
    const theirs = readMigrationFiles({ migrationsFolder: migrationsFolder('tenant') }).map((m) => [m.hash, m.folderMillis]);
    expect(ours).toEqual(theirs);
  });

  it("records what it applies so that drizzle's own migrator finds nothing to do", async () => {
    const sql = await database();
    const set = loadMigrationSet(migrationsFolder('tenant'));
    const result = await applyMigrations(sql, set);
    expect(result.appliedNow).toEqual(set.migrations.map((m) => m.tag));
    expect(result.version).toBe(set.latest);
    // drizzle would fail on "relation already exists" if it thought anything was pending.
    await migrate(drizzle(sql), { migrationsFolder: migrationsFolder('tenant') });
    const [row] = await sql<{ n: number }[]>`select count(*)::int as n from drizzle.__drizzle_migrations`;
    const n = row?.n;
    expect(n).toBe(set.migrations.length);
    // And a second run of ours applies nothing.
    expect((await applyMigrations(sql, set)).appliedNow).toEqual([]);
  });

  it('applies a late-merged migration that drizzle would skip by timestamp', async () => {
    const sql = await database();
    const first = setWith([{ tag: '0001_second', sql: 'create table second (id int)' }]);
    await applyMigrations(sql, loadMigrationSet(first));
    // A branch merged later carries an older timestamp than the last applied migration.
    const journal = JSON.parse(readFileSync(join(first, 'meta', '_journal.json'), 'utf8'));
    const olderWhen = journal.entries[0].when + 1;
    const merged = setWith([
      { tag: '0001_second', sql: 'create table second (id int)' },
      { tag: '0002_from_branch', sql: 'create table from_branch (id int)', when: olderWhen },
    ]);
    const result = await applyMigrations(sql, loadMigrationSet(merged));
    expect(result.appliedNow).toEqual(['0002_from_branch']);
    const [table] = await sql`select to_regclass('from_branch') as t`;
    expect(table!.t).toBe('from_branch');
  });

  it('rolls back a failing migration alone and leaves the last good version', async () => {
    const sql = await database();
    const dir = setWith([
      { tag: '0001_good', sql: 'create table good (id int)' },
      { tag: '0002_bad', sql: 'create table half_done (id int);\n--> statement-breakpoint\nselect 1/0;' },
      { tag: '0003_after', sql: 'create table after_bad (id int)' },
    ]);
    const error = await applyMigrations(sql, loadMigrationSet(dir)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(MigrationFailedError);
    expect((error as MigrationFailedError).tag).toBe('0002_bad');
    const state = await readMigrationState(sql, loadMigrationSet(dir));
    expect(state.version).toBe('0001_good');
    expect(state.pending.map((m) => m.tag)).toEqual(['0002_bad', '0003_after']);
    const [tables] = await sql`select to_regclass('half_done') as half, to_regclass('after_bad') as after`;
    expect(tables).toEqual({ half: null, after: null });
  });

  it('reports an applied file that changed since as drift', async () => {
    const sql = await database();
    const dir = setWith([{ tag: '0001_column', sql: 'create table t1 (id int)' }]);
    await applyMigrations(sql, loadMigrationSet(dir));
    writeFileSync(join(dir, '0001_column.sql'), 'create table t1 (id bigint)');
    const state = await readMigrationState(sql, loadMigrationSet(dir));
    expect(state.drift).toEqual([expect.objectContaining({ tag: '0001_column' })]);
    expect(state.pending).toEqual([]);
  });

  it('never applies a migration twice when two runners start together', async () => {
    const fresh = await freshDatabase();
    await fresh.end();
    const name = created.at(-1)!;
    const dir = setWith([{ tag: '0001_slow', sql: 'select pg_sleep(0.3);\n--> statement-breakpoint\ncreate table slow (id int)' }]);
    const set = loadMigrationSet(dir);
    const runners = [0, 1, 2].map(() => postgres(serverUrl(name), { max: 1, onnotice: () => {} }));
    clients.push(...runners);
    const results = await Promise.all(runners.map((r) => applyMigrations(r, set)));
    const appliedCounts = results.map((r) => r.appliedNow.length).sort();
    expect(appliedCounts).toEqual([0, 0, set.migrations.length]);
    const [row] = await runners[0]!<{ n: number }[]>`select count(*)::int as n from drizzle.__drizzle_migrations`;
    const n = row?.n;
    expect(n).toBe(set.migrations.length);
  });
});
