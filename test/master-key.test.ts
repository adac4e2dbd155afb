// A wrong master key at start: Silo started with a valid key that is not the one its
// credentials were sealed with refuses to start, server and CLI alike, with one line that names
// the key's variable or file and never the key.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import postgres from 'postgres';
import { afterAll, describe, expect, it } from 'vitest';
import { openSilo } from '../src/bootstrap.ts';
import { ConfigError, loadConfig } from '../src/base/config/config.ts';
import { runCli } from '../src/cli/main.ts';
import { randomName, serverUrl } from './support/test-silo.ts';

const root = fileURLToPath(new URL('..', import.meta.url));
const cleanups: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const cleanup of cleanups) await cleanup();
});

/** A fresh management database and data dir: the environment of one installation. */
async function installation(): Promise<Record<string, string>> {
  const database = `m${randomName(7)}_key`;
  const admin = postgres(serverUrl(), { max: 1, onnotice: () => {} });
  await admin`create database ${admin(database)}`;
  const dataDir = mkdtempSync(join(tmpdir(), 'silo-key-'));
  cleanups.push(async () => {
    await admin`drop database if exists ${admin(database)} with (force)`;
    await admin.end();
    rmSync(dataDir, { recursive: true, force: true });
  });
  return { DATABASE_URL: serverUrl(database), SILO_DATA_DIR: dataDir, SILO_DB_PREFIX: `k${randomName(7)}`, SILO_LOG_LEVEL: 'silent' };
}

async function start(env: Record<string, string>) {
  const silo = await openSilo(loadConfig(env));
  await silo.close();
}

async function startError(env: Record<string, string>): Promise<Error> {
  return start(env).then(
    () => {
      throw new Error('Silo started with a wrong master key');
    },
    (error: Error) => error,
  );
}

async function cli(env: Record<string, string>, ...argv: string[]) {
  const out: string[] = [];
  const code = await runCli(argv, { env, stdout: { write: (c: string) => out.push(c) }, stderr: { write: (c: string) => out.push(c) } });
  return { code, output: out.join('') };
}

/** `npm start` as a process: its exit status and what it printed on stderr. */
function serverStart(env: Record<string, string>): Promise<{ code: number | null; stderr: string }> {
  const tsx = join(root, 'node_modules', '.bin', 'tsx');
  return new Promise((done) => {
    execFile(
      tsx,
      ['src/main.ts'],
      { cwd: root, env: { PATH: process.env.PATH, ...env, PORT: '0' }, timeout: 60_000 },
      (error, _stdout, stderr) => {
        done({ code: error ? ((error as { code?: number }).code ?? null) : 0, stderr });
      },
    );
  });
}

/** Every spelling of a key that must never be printed. */
const spellings = (hex: string) => [hex, Buffer.from(hex, 'hex').toString('base64'), Buffer.from(hex, 'hex').toString('base64url')];

function expectOneLineNaming(text: string, source: string, keys: string[]) {
  const lines = text.trim().split('\n');
  expect(lines).toHaveLength(1);
  expect(lines[0]).toContain(`${source} is not the master key`);
  for (const key of keys) for (const spelling of spellings(key)) expect(text).not.toContain(spelling);
}

describe('a master key that is not the installation', () => {
  it('refuses to start when SILO_MASTER_KEY changed, naming the variable: openSilo, the CLI and the server', async () => {
    const env = await installation();
    const [right, wrong] = [randomBytes(32).toString('hex'), randomBytes(32).toString('hex')];
    await start({ ...env, SILO_MASTER_KEY: right });

    const error = await startError({ ...env, SILO_MASTER_KEY: wrong });
    expect(error).toBeInstanceOf(ConfigError);
    expectOneLineNaming(error.message, 'SILO_MASTER_KEY', [right, wrong]);

    const command = await cli({ ...env, SILO_MASTER_KEY: wrong }, 'companies', 'list');
    expect(command.code).toBe(1);
    expectOneLineNaming(command.output, 'SILO_MASTER_KEY', [right, wrong]);

    const server = await serverStart({ ...env, SILO_MASTER_KEY: Buffer.from(wrong, 'hex').toString('base64') });
    expect(server.code).toBe(1);
    expectOneLineNaming(server.stderr, 'SILO_MASTER_KEY', [right, wrong]);

    // The right key still starts it.
    await start({ ...env, SILO_MASTER_KEY: right });
    expect((await cli({ ...env, SILO_MASTER_KEY: right }, 'companies', 'list')).code).toBe(0);
  }, 90_000);

  it('refuses to start when the generated key file was replaced, naming the file', async () => {
    const env = await installation();
    await start(env);
    const file = join(env.SILO_DATA_DIR!, 'master-key');
    const right = readFileSync(file, 'utf8').trim();
    const wrong = randomBytes(32).toString('hex');
    writeFileSync(file, `${wrong}\n`);

    const error = await startError(env);
    expect(error).toBeInstanceOf(ConfigError);
    expectOneLineNaming(error.message, file, [right, wrong]);

    const command = await cli(env, 'servers', 'list');
    expect(command.code).toBe(1);
    expectOneLineNaming(command.output, file, [right, wrong]);

    writeFileSync(file, `${right}\n`);
    await start(env);
  }, 60_000);
});
