// The backup commands as an operator runs them: on a terminal, backup, restore, export and import
// draw progress bars on stderr that reach 100%, and print their usual report on stdout; with --json,
// or when stdout is not a terminal, stdout holds the report alone and no bar is drawn.
import { join } from 'node:path';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cliFor } from './support/cli.ts';
import { createTestSilo, namesOf, serverUrl, type TestSilo } from './support/test-silo.ts';

let t: TestSilo;
let onTerminal: ReturnType<typeof cliFor>;
let piped: ReturnType<typeof cliFor>;

/** The bar's line for a stage at its end: "<stage> [====] 100% | n/n <unit>". */
const finished = (stage: string, unit: string) => new RegExp(`${stage}\\s*\\[=+\\] 100% \\| (\\d+)/\\1 ${unit}`);

beforeAll(async () => {
  t = await createTestSilo();
  onTerminal = cliFor(t, { tty: true });
  piped = cliFor(t);
  const created = await t.call('POST', '/api/companies', {
    token: t.adminToken,
    body: { name: 'Bars', slug: 'bars', admin: { email: 'boss@bars.test', password: 'boss-password' } },
  });
  expect(created.status, created.text).toBe(201);
  const sql = postgres(serverUrl((await namesOf(t, 'bars')).database), { max: 1, onnotice: () => {} });
  try {
    await sql`insert into documents (title, content) select 'Doc ' || i, repeat('text ', 200) from generate_series(1, 3000) i`;
    await sql`analyze`;
  } finally {
    await sql.end();
  }
}, 60_000);

afterAll(async () => {
  await t?.close();
});

describe('progress bars and --json', () => {
  it('draws a bar per stage on a terminal, and prints the report on stdout', async () => {
    const backup = await onTerminal('companies', 'backup', 'bars');
    expect(backup.code, backup.stderr).toBe(0);
    expect(backup.stdout).toMatch(/^backup [0-9a-f-]{36} of bars: \d+ rows/);
    expect(backup.stderr).toMatch(/backup\s*\[[=-]+\] \d+% \| \d+\/\d+ rows/);
    const id = backup.stdout.split(' ')[1]!;

    const file = join(t.config.dataDir, 'bars.silo');
    const exported = await onTerminal('companies', 'export', 'bars', '--backup', id, '-o', file);
    expect(exported.code, exported.stderr).toBe(0);
    expect(exported.stderr).toMatch(finished('export', 'kB'));

    const restored = await onTerminal('companies', 'restore', 'bars', '--backup', id);
    expect(restored.code, restored.stderr).toBe(0);
    const [, rows] = restored.stderr.match(finished('restore', 'rows'))!;
    expect(Number(rows)).toBeGreaterThan(3000);
    expect(restored.stdout).toMatch(/^restored bars from backup/);

    const imported = await onTerminal('companies', 'import', file, '--slug', 'bars-copy');
    expect(imported.code, imported.stderr).toBe(0);
    expect(imported.stderr).toMatch(finished('upload', 'kB'));
    expect(imported.stderr).toMatch(finished('restore', 'rows'));
    expect(imported.stdout).toMatch(/^imported .* as company bars-copy/);
  });

  it('prints one JSON document and no bar with --json, or when stdout is not a terminal', async () => {
    const backup = await onTerminal('companies', 'backup', 'bars', '--json');
    expect(backup.code, backup.stderr).toBe(0);
    expect(JSON.parse(backup.stdout)).toMatchObject({ status: 'completed', origin: 'manual', tables: { documents: 3000 } });
    expect(backup.stderr).toBe('');
    const { id } = JSON.parse(backup.stdout);

    const restored = await onTerminal('companies', 'restore', 'bars', '--backup', id, '--json');
    expect(restored.code, restored.stderr).toBe(0);
    expect(JSON.parse(restored.stdout)).toMatchObject({ backupId: id, tables: { documents: 3000 } });
    expect(restored.stderr).toBe('');

    const file = join(t.config.dataDir, 'bars-json.silo');
    const exported = await onTerminal('companies', 'export', 'bars', '-o', file, '--json');
    expect(exported.code, exported.stderr).toBe(0);
    expect(JSON.parse(exported.stdout)).toMatchObject({ status: 'completed' });
    expect(exported.stderr).toBe('');

    const imported = await piped('companies', 'import', file, '--slug', 'bars-piped');
    expect(imported.code, imported.stderr).toBe(0);
    expect(imported.stdout).toMatch(/^imported .* as company bars-piped/);
    expect(imported.stderr).toBe('');
    const importedJson = await onTerminal('companies', 'import', file, '--slug', 'bars-json', '--json');
    expect(JSON.parse(importedJson.stdout)).toMatchObject({ slug: 'bars-json', status: 'active' });
    expect(importedJson.stderr).toBe('');
  });
});
