// Master key rotation: `silo secrets rotate-master-key` re-seals every stored credential
// under the new key in batches while instances that hold both keys keep serving; interrupted
// half-way, running it again finishes it; afterwards the new key alone serves everything.
import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openSilo, type Silo } from '../src/bootstrap.ts';
import { runCli } from '../src/cli/main.ts';
import { loadConfig } from '../src/base/config/config.ts';
import { createCredentialBox, sealedAt } from '../src/base/crypto/credentials.ts';
import { resealStored } from '../src/base/crypto/reseal.ts';
import { createApp } from '../src/http/app.ts';
import { cliEnvOf, createTestSilo, type TestSilo } from './support/test-silo.ts';

const OLD = randomBytes(32).toString('hex');
const NEW = randomBytes(32).toString('hex');
const SLUGS = ['rot-a', 'rot-b', 'rot-c'];

let t: TestSilo;
const opened: Silo[] = [];
beforeAll(async () => {
  t = await createTestSilo({ env: { SILO_MASTER_KEY: OLD } });
  for (const slug of SLUGS) {
    const made = await t.call('POST', '/api/companies', {
      token: t.adminToken,
      body: { name: slug, slug, admin: { email: `a@${slug}.test`, password: `${slug}-password` } },
    });
    expect(made.status).toBe(201);
  }
});
afterAll(async () => {
  for (const silo of opened) await silo.close();
  await t?.close();
});

/** Another instance on the same fleet with these keys, as after a restart. */
async function instance(keys: Record<string, string>) {
  const config = loadConfig({ ...cliEnvOf(t), ...keys, SILO_LOG_LEVEL: 'silent' });
  const silo = await openSilo(config, { listen: true, logDestination: new Writable({ write: (_c, _e, done) => done() }) });
  opened.push(silo);
  const app = createApp(silo.ctx);
  const logIn = async (slug: string) =>
    (
      await app.request('/api/auth/login', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ email: `a@${slug}.test`, password: `${slug}-password`, company: slug }),
      })
    ).status;
  return { silo, logIn };
}

async function underNewKey(): Promise<number> {
  const only = createCredentialBox(Buffer.from(NEW, 'hex'));
  const rows = await t.ctx.db.query.companies.findMany();
  return rows.filter((r) => {
    try {
      only.open(r.credentialsEncrypted!, sealedAt.companyCredentials(r.id));
      return true;
    } catch {
      return false;
    }
  }).length;
}

describe('silo secrets rotate-master-key', () => {
  it('re-seals everything in batches while both keys serve; interrupted half-way, a second run finishes it', async () => {
    const rotating = { SILO_MASTER_KEY: NEW, SILO_MASTER_KEY_PREVIOUS: OLD };
    // A JWT signing key is sealed too: every login below signs with it.
    const jwtKey = await runCli(['secrets', 'rotate-jwt-key'], {
      env: { ...cliEnvOf(t), SILO_MASTER_KEY: OLD },
      stdout: { write: () => true },
      stderr: { write: () => true },
    });
    expect(jwtKey).toBe(0);
    const serving = await instance(rotating);

    // Interrupted after its first batch (two rows).
    const interrupt = new AbortController();
    const first = await resealStored(serving.silo.ctx.sql, serving.silo.ctx.box, {
      which: 'stale',
      batchSize: 2,
      signal: interrupt.signal,
      onBatch: () => interrupt.abort(),
    });
    expect(first.resealed).toBe(2);
    expect(await underNewKey()).toBe(2);
    // Half-way, an instance holding both keys serves every company.
    for (const slug of SLUGS) expect(await serving.logIn(slug), slug).toBe(200);

    const out: string[] = [];
    const code = await runCli(['secrets', 'rotate-master-key', '--batch-size', '2'], {
      env: { ...cliEnvOf(t), ...rotating },
      stdout: { write: (c: string) => out.push(c) },
      stderr: { write: (c: string) => out.push(c) },
    });
    expect(code).toBe(0);
    expect(out.join('')).toContain('SILO_MASTER_KEY_PREVIOUS can be removed');
    for (const key of [OLD, NEW]) expect(out.join('')).not.toContain(key);
    expect(await underNewKey()).toBe(SLUGS.length);

    // The new key alone now serves everything, and the old one no longer starts Silo.
    const after = await instance({ SILO_MASTER_KEY: NEW });
    for (const slug of SLUGS) expect(await after.logIn(slug), slug).toBe(200);
    await expect(instance({ SILO_MASTER_KEY: OLD })).rejects.toThrow(/SILO_MASTER_KEY is not the master key/);
  });

  it('refuses to run without the previous key', async () => {
    const err: string[] = [];
    const code = await runCli(['secrets', 'rotate-master-key'], {
      env: { ...cliEnvOf(t), SILO_MASTER_KEY: NEW },
      stdout: { write: () => true },
      stderr: { write: (c: string) => err.push(c) },
    });
    expect(code).toBe(2);
    expect(err.join('')).toContain('SILO_MASTER_KEY_PREVIOUS');
  });
});
