// Configuration and credentials at rest: no database needed.
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../src/base/config/config.ts';
import { createCredentialBox, isCurrentFormat, sealedAt } from '../src/base/crypto/credentials.ts';
import { sealV1 } from './support/legacy-seal.ts';

describe('loadConfig', () => {
  it('has defaults that run Silo with nothing set', () => {
    const config = loadConfig({});
    expect(config).toMatchObject({ port: 3000, databaseUrl: undefined, dataDir: './.silo', dbPrefix: 'silo', templateStrategy: 'WAL_LOG' });
  });

  it.each([
    [{ PORT: 'eighty' }, 'PORT'],
    [{ DATABASE_URL: 'mysql://x@y/z' }, 'DATABASE_URL'],
    [{ SILO_JWT_SECRET: 'too-short' }, 'SILO_JWT_SECRET'],
    [{ SILO_MASTER_KEY: 'abcd' }, 'SILO_MASTER_KEY'],
    [{ SILO_MASTER_KEY_PREVIOUS: 'abcd' }, 'SILO_MASTER_KEY_PREVIOUS'],
    [{ SILO_ADMIN_EMAIL: 'ops@example.com' }, 'SILO_ADMIN_PASSWORD'],
    [{ SILO_ADMIN_EMAIL: 'not-an-email', SILO_ADMIN_PASSWORD: 'long-enough' }, 'SILO_ADMIN_EMAIL'],
    [{ SILO_DB_PREFIX: 'Bad-Prefix' }, 'SILO_DB_PREFIX'],
    [{ HOST: 'http://0.0.0.0' }, 'HOST'],
    [{ SILO_MIGRATE_ON_START: 'yes' }, 'SILO_MIGRATE_ON_START'],
    [{ SILO_NEON_WS_PROXY: 'ws://proxy.example:8080/v1' }, 'SILO_NEON_WS_PROXY'],
    [
      {
        SILO_SQL_ASSISTANT_URL: 'https://user:hunter2-secret@llm.example/v1/chat',
        SILO_SQL_ASSISTANT_KEY: 'sk-key-of-the-assistant',
        SILO_SQL_ASSISTANT_MODEL: 'model-of-the-assistant',
      },
      'SILO_SQL_ASSISTANT_URL',
    ],
    [{ SILO_SQL_ASSISTANT_URL: 'https://llm.example/v1/chat/completions' }, 'SILO_SQL_ASSISTANT_URL'],
    [{ SILO_SQL_ASSISTANT_KEY: 'sk-secret-assistant-key' }, 'SILO_SQL_ASSISTANT_URL'],
    [{ SILO_BACKUP_STALE_AFTER_SECONDS: '1' }, 'SILO_BACKUP_STALE_AFTER_SECONDS'],
    [{ SILO_BACKUP_STALE_AFTER_SECONDS: 'two-minutes' }, 'SILO_BACKUP_STALE_AFTER_SECONDS'],
  ])('refuses %j naming %s, without echoing the value', (env, variable) => {
    let error: unknown;
    try {
      loadConfig(env);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).message).toContain(variable);
    for (const value of Object.values(env)) expect((error as Error).message).not.toContain(value);
  });

  it('configures the SQL assistant only with its URL, key and model together', () => {
    expect(loadConfig({}).sqlAssistant).toBeUndefined();
    const env = {
      SILO_SQL_ASSISTANT_URL: 'http://127.0.0.1:8080/v1/chat/completions',
      SILO_SQL_ASSISTANT_KEY: 'sk-1',
      SILO_SQL_ASSISTANT_MODEL: 'm',
    };
    expect(loadConfig(env).sqlAssistant).toEqual({ url: env.SILO_SQL_ASSISTANT_URL, key: 'sk-1', model: 'm', timeoutMs: 30_000 });
  });

  it('counts a running backup as interrupted after 2 minutes without a heartbeat, unless told', () => {
    expect(loadConfig({}).backups.staleAfterSeconds).toBe(120);
    expect(loadConfig({ SILO_BACKUP_STALE_AFTER_SECONDS: '600' }).backups.staleAfterSeconds).toBe(600);
  });

  it('takes HOST as a name or an address; unset listens on every interface', () => {
    expect(loadConfig({}).host).toBeUndefined();
    for (const host of ['127.0.0.1', '::1', 'silo.internal']) expect(loadConfig({ HOST: host }).host).toBe(host);
  });

  it('takes a Neon WebSocket proxy as host[:port][/path]', () => {
    expect(loadConfig({ SILO_NEON_WS_PROXY: '127.0.0.1:8080/v1' }).neonWsProxy).toBe('127.0.0.1:8080/v1');
    expect(loadConfig({}).neonWsProxy).toBeUndefined();
  });

  it('accepts a master key as hex or base64', () => {
    const hex = 'ab'.repeat(32);
    expect(loadConfig({ SILO_MASTER_KEY: hex }).masterKey?.toString('hex')).toBe(hex);
    const b64 = Buffer.from(hex, 'hex').toString('base64');
    expect(loadConfig({ SILO_MASTER_KEY: b64 }).masterKey?.toString('hex')).toBe(hex);
  });
});

describe('credential box', () => {
  const box = createCredentialBox(Buffer.alloc(32, 7));
  const field = sealedAt.companyCredentials('0b9a3c1e-0000-4000-8000-000000000001');

  it('round-trips and never stores the plaintext', () => {
    const sealed = box.seal('s3cret-password', field);
    expect(sealed).not.toContain('s3cret');
    expect(sealed).not.toBe(box.seal('s3cret-password', field));
    expect(box.open(sealed, field)).toBe('s3cret-password');
  });

  it('refuses a tampered value or another key', () => {
    const sealed = box.seal('s3cret-password', field);
    const parts = sealed.split('.');
    parts[3] = Buffer.from('x'.repeat(15)).toString('base64url');
    expect(() => box.open(parts.join('.'), field)).toThrow();
    expect(() => createCredentialBox(Buffer.alloc(32, 8)).open(sealed, field)).toThrow();
    expect(() => box.open('plain', field)).toThrow(/unknown format/);
  });

  it('opens a value only in the row and column it was sealed for', () => {
    const sealed = box.seal('s3cret-password', field);
    expect(() => box.open(sealed, sealedAt.companyCredentials('0b9a3c1e-0000-4000-8000-000000000002'))).toThrow();
    expect(() => box.open(sealed, sealedAt.companyDatabaseUrl('0b9a3c1e-0000-4000-8000-000000000001'))).toThrow();
  });

  it('refuses a shortened tag: its length is pinned to 16 bytes', () => {
    const parts = box.seal('s3cret-password', field).split('.');
    parts[2] = Buffer.from(parts[2]!, 'base64url').subarray(0, 4).toString('base64url');
    expect(() => box.open(parts.join('.'), field)).toThrow();
  });

  it('still opens the earlier format (v1, bound to nothing)', () => {
    const v1 = sealV1(Buffer.alloc(32, 7), 'old-password');
    expect(box.open(v1, field)).toBe('old-password');
    expect(isCurrentFormat(v1)).toBe(false);
    expect(isCurrentFormat(box.seal('x', field))).toBe(true);
  });
});
