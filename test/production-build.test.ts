// The production install: `npm run build` output run where only the production dependencies are
// installed (`npm ci --omit=dev` in a copy of the package: no tsx, no TypeScript, no test tools).
// It serves on the embedded PostgreSQL (so the migrations folders and the bcrypt worker are found
// from dist/), the `silo` bin runs from dist/, SIGTERM and SIGINT stop it with its PostgreSQL, and
// the install ran no telemetry script. The install uses npm's cache (--prefer-offline): it proves
// what the lockfile's production tree needs, not that the registry answers.
import { execFile } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { killLeftover, operatorEnv, portAnswers, processAlive, siloDataDir, startSiloProcess, stopWith } from './support/silo-process.ts';

const run = promisify(execFile);
const root = fileURLToPath(new URL('..', import.meta.url));
const copy = mkdtempSync(join(tmpdir(), 'silo-prod-'));
const privateTmp = join(copy, 'tmp');
const dataDir = siloDataDir();
let installLog = '';

beforeAll(async () => {
  for (const path of ['package.json', 'package-lock.json', 'patches', 'bin', 'migrations', 'assets'])
    cpSync(join(root, path), join(copy, path), { recursive: true });
  mkdirSync(privateTmp);
  // The build runs where the development dependencies are (as a build stage would), into the copy.
  await run(join(root, 'node_modules', '.bin', 'tsc'), ['-p', join(root, 'tsconfig.build.json'), '--outDir', join(copy, 'dist')], {
    cwd: root,
  });
  const installed = await run('npm', ['ci', '--omit=dev', '--prefer-offline', '--no-audit', '--no-fund', '--foreground-scripts'], {
    cwd: copy,
    env: { ...process.env, TMPDIR: privateTmp },
    maxBuffer: 16 * 1024 * 1024,
  });
  installLog = installed.stdout + installed.stderr;
}, 300_000);

afterAll(() => {
  rmSync(copy, { recursive: true, force: true });
  rmSync(dataDir, { recursive: true, force: true });
});

const env = () => operatorEnv({ SILO_DATA_DIR: dataDir, SILO_ADMIN_EMAIL: 'ops@silo.test', SILO_ADMIN_PASSWORD: 'correct-horse-battery' });

describe('the build with production dependencies only', () => {
  it('installs without development tools and without running the telemetry script', () => {
    for (const dev of ['tsx', 'typescript', 'vitest', 'esbuild', '@biomejs'])
      expect(existsSync(join(copy, 'node_modules', dev))).toBe(false);
    expect(existsSync(join(copy, 'node_modules', 'swagger-ui-dist'))).toBe(true);
    // @scarf/scarf keeps its throttle file in the temp folder whenever it gets as far as reporting.
    expect(readdirSync(privateTmp).filter((name) => name.startsWith('scarf'))).toEqual([]);
    expect(installLog).not.toMatch(/scarf/i);
    // The fixes Silo carries for its dependencies (patches/, applied by patch-package) are applied.
    expect(readFileSync(join(copy, 'node_modules', 'postgres', 'src', 'connection.js'), 'utf8')).toContain('fetchArrayTypes().catch(noop)');
  });

  it('serves from dist/, the CLI runs from dist/, and SIGTERM stops it with its PostgreSQL', async () => {
    const silo = await startSiloProcess('node', ['dist/main.js'], { cwd: copy, env: env() });
    onTestFinished(() => killLeftover(silo));
    const login = await fetch(`${silo.url}/api/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email: 'ops@silo.test', password: 'correct-horse-battery' }),
    });
    expect(login.status).toBe(200);
    const { token } = (await login.json()) as { token: string };
    // A company: the tenant migrations and the template, found from dist/.
    const created = await fetch(`${silo.url}/api/companies`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify({ name: 'Acme', slug: 'acme', admin: { email: 'boss@acme.test', password: 'correct-horse-battery' } }),
    });
    expect(created.status).toBe(201);
    expect((await fetch(`${silo.url}/docs`)).status).toBe(200);
    // The console, with htmx from the production install and its own files from assets/.
    const consolePage = await fetch(`${silo.url}/console/login`);
    expect(consolePage.status).toBe(200);
    const assetPaths = [...(await consolePage.text()).matchAll(/(?:src|href)="(\/console\/assets\/[^"]+)"/g)].map((m) => m[1]);
    expect(assetPaths).toHaveLength(3);
    for (const path of assetPaths) expect((await fetch(`${silo.url}${path}`)).status).toBe(200);

    // The README's bring-your-own example on the embedded server: a database and its owner made with
    // the superuser URL that `silo embedded url` prints, then registered.
    const adminUrl = (await run('node', ['bin/silo.js', 'embedded', 'url'], { cwd: copy, env: env() })).stdout.trim();
    const superuser = postgres(adminUrl, { max: 1, onnotice: () => {} });
    await superuser`create role globex_owner login password 'globex-owner-pass'`;
    await superuser`create database globex owner globex_owner`;
    await superuser.end();
    const globexUrl = (await run('node', ['bin/silo.js', 'embedded', 'url', '--database', 'globex'], { cwd: copy, env: env() })).stdout
      .trim()
      .replace(/\/\/[^@]*@/, '//globex_owner:globex-owner-pass@');
    const brought = await fetch(`${silo.url}/api/companies`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify({ name: 'Globex', slug: 'globex', admin: { email: 'boss@globex.test' }, externalDatabaseUrl: globexUrl }),
    });
    expect(brought.status).toBe(201);
    expect(await brought.json()).toMatchObject({ provider: 'external', database: 'globex' });

    const cli = await run('node', ['bin/silo.js', 'companies', 'list', '--json'], { cwd: copy, env: env() });
    expect(
      JSON.parse(cli.stdout)
        .items.map((c: { slug: string }) => c.slug)
        .sort(),
    ).toEqual(['acme', 'globex']);

    const { code } = await stopWith(silo, 'SIGTERM');
    expect(code).toBe(0);
    expect(processAlive(silo.postmasterPid)).toBe(false);
    expect(await portAnswers(Number(new URL(silo.url).port))).toBe(false);
    expect(await portAnswers(silo.postgresPort)).toBe(false);
  }, 150_000);

  it('starts again on the same data and stops on SIGINT', async () => {
    const silo = await startSiloProcess('node', ['dist/main.js'], { cwd: copy, env: env() });
    onTestFinished(() => killLeftover(silo));
    expect(silo.lines.join('\n')).toContain('SILO_ADMIN_EMAIL and SILO_ADMIN_PASSWORD are ignored: a system admin already exists');
    expect((await fetch(`${silo.url}/ready`)).status).toBe(200);

    const { code } = await stopWith(silo, 'SIGINT');
    expect(code).toBe(0);
    expect(processAlive(silo.postmasterPid)).toBe(false);
    expect(await portAnswers(silo.postgresPort)).toBe(false);
  }, 150_000);
});
