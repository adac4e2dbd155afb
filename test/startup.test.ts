// `npm start` failing to start says why in one line and exits 1: no stack trace, no unhandled event.
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import postgres from 'postgres';
import { afterAll, describe, expect, it } from 'vitest';
import { randomName, serverUrl } from './support/test-silo.ts';

const root = fileURLToPath(new URL('..', import.meta.url));
const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

function start(env: Record<string, string>) {
  const clean: Record<string, string | undefined> = { ...process.env, ...env };
  for (const name of ['TEST_DATABASE_URL', 'VITEST', 'VITEST_POOL_ID', 'VITEST_WORKER_ID']) delete clean[name];
  if (!env.DATABASE_URL) delete clean.DATABASE_URL;
  return new Promise<{ code: number | null; stderr: string }>((done) => {
    execFile(
      join(root, 'node_modules', '.bin', 'tsx'),
      ['src/main.ts'],
      { cwd: root, env: clean as NodeJS.ProcessEnv, timeout: 60_000 },
      (error, _stdout, stderr) => done({ code: error ? ((error as { code?: number }).code ?? null) : 0, stderr }),
    );
  });
}

function expectOneLine(stderr: string, pattern: RegExp) {
  const lines = stderr.split('\n').filter((line) => line.trim() !== '');
  expect(lines).toEqual([expect.stringMatching(pattern)]);
}

describe('npm start', () => {
  it('says the port is taken and how to choose another', async () => {
    const taken: Server = createServer();
    await new Promise<void>((done) => taken.listen(0, done));
    const port = (taken.address() as { port: number }).port;
    const name = `m${randomName(7)}_start`;
    const admin = postgres(serverUrl(), { max: 1, onnotice: () => {} });
    await admin`create database ${admin(name)}`;
    try {
      const dataDir = mkdtempSync(join(tmpdir(), 'silo-start-'));
      dirs.push(dataDir);
      const result = await start({
        PORT: String(port),
        DATABASE_URL: serverUrl(name),
        SILO_DATA_DIR: dataDir,
        SILO_DB_PREFIX: `s${randomName(7)}`,
        SILO_LOG_LEVEL: 'silent',
      });
      expectOneLine(result.stderr, new RegExp(`port ${port} is already in use.*PORT`));
      expect(result.code).toBe(1);
    } finally {
      taken.close();
      await admin`drop database if exists ${admin(name)} with (force)`;
      await admin.end();
    }
  }, 90_000);

  it('names the cause when the embedded server cannot be initialised', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'silo-start-'));
    dirs.push(dataDir);
    // A cluster folder that is neither empty nor a cluster: initdb refuses it.
    mkdirSync(join(dataDir, 'pg'));
    writeFileSync(join(dataDir, 'pg', 'stray'), 'x');
    const result = await start({ SILO_DATA_DIR: dataDir, SILO_LOG_LEVEL: 'silent' });
    expectOneLine(result.stderr, /^Silo failed to start: initdb failed \(exit 1\): initdb: error: directory .* exists but is not empty$/);
    expect(result.code).toBe(1);
  }, 90_000);
});
