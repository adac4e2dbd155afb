// Configuration and credentials at rest: no database needed.
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../src/config/config.ts';
import { createCredentialBox } from '../src/crypto/credentials.ts';

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
    [{ SILO_ADMIN_EMAIL: 'ops@example.com' }, 'SILO_ADMIN_PASSWORD'],
    [{ SILO_ADMIN_EMAIL: 'not-an-email', SILO_ADMIN_PASSWORD: 'long-enough' }, 'SILO_ADMIN_EMAIL'],
    [{ SILO_DB_PREFIX: 'Bad-Prefix' }, 'SILO_DB_PREFIX'],
    [{ SILO_MIGRATE_ON_START: 'yes' }, 'SILO_MIGRATE_ON_START'],
    [{ SILO_NEON_WS_PROXY: 'ws://proxy.example:8080/v1' }, 'SILO_NEON_WS_PROXY'],
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

  it('round-trips and never stores the plaintext', () => {
    const sealed = box.seal('s3cret-password');
    expect(sealed).not.toContain('s3cret');
    expect(sealed).not.toBe(box.seal('s3cret-password'));
    expect(box.open(sealed)).toBe('s3cret-password');
  });

  it('refuses a tampered value or another key', () => {
    const sealed = box.seal('s3cret-password');
    const parts = sealed.split('.');
    parts[3] = Buffer.from('x'.repeat(15)).toString('base64url');
    expect(() => box.open(parts.join('.'))).toThrow();
    expect(() => createCredentialBox(Buffer.alloc(32, 8)).open(sealed)).toThrow();
    expect(() => box.open('plain')).toThrow(/unknown format/);
  });
});
