// Master key rotation: `silo secrets rotate-master-key` (the real command, a child process) re-seals
// every stored credential under the new key in batches while an instance that holds both keys
// keeps serving. Interrupted with Ctrl-C (SIGINT) it stops after the batch under way; killed with
// SIGKILL part-way, it leaves every row whole under one key or the other; each time, running it
// again finishes it. Afterwards the new key alone opens every stored credential and serves every
// company, and the old key no longer starts Silo.
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import type postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openSilo, type Silo } from '../src/bootstrap.ts';
import { runCli } from '../src/cli/main.ts';
import { loadConfig } from '../src/base/config/config.ts';
import { createCredentialBox } from '../src/base/crypto/credentials.ts';
import { SEALED_COLUMNS } from '../src/base/crypto/reseal.ts';
import { createApp } from '../src/http/app.ts';
import { cliEnvOf, createTestSilo, type TestSilo } from './support/test-silo.ts';

const OLD = randomBytes(32).toString('hex');
const NEW = randomBytes(32).toString('hex');
const SLUGS = ['rot-a', 'rot-b', 'rot-c', 'rot-d'];
const ROTATING = { SILO_MASTER_KEY: NEW, SILO_MASTER_KEY_PREVIOUS: OLD };
const BIN = fileURLToPath(new URL('../bin/silo.js', import.meta.url));

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

/** How many stored credentials (every sealed column) the new key alone opens, and how many there are. */
async function underNewKey(): Promise<{ opened: number; total: number }> {
  const only = createCredentialBox(Buffer.from(NEW, 'hex'));
  let opened = 0;
  let total = 0;
  for (const { table, column, field } of SEALED_COLUMNS) {
    const rows = await t.ctx.sql<{ id: string; value: string }[]>`
      select id, ${t.ctx.sql(column)} as value from ${t.ctx.sql(table)} where ${t.ctx.sql(column)} is not null`;
    for (const { id, value } of rows) {
      total++;
      try {
        only.open(value, field(id));
        opened++;
      } catch {
        // still under the old key
      }
    }
  }
  return { opened, total };
}

/** The companies' ids in the order the command walks them. */
async function companyIds(): Promise<string[]> {
  const rows = await t.ctx.sql<{ id: string }[]>`select id from companies order by id`;
  return rows.map((r) => r.id);
}

/** The `silo` binary in a child process: `rotate-master-key --batch-size 1` with both keys. */
function rotateInChild(): { child: ChildProcess; output: () => string; exit: Promise<number | null> } {
  const child = spawn(process.execPath, [BIN, 'secrets', 'rotate-master-key', '--batch-size', '1'], {
    env: { ...process.env, ...cliEnvOf(t), ...ROTATING },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const collect = (chunk: Buffer) => {
    output += String(chunk);
  };
  child.stdout!.on('data', collect);
  child.stderr!.on('data', collect);
  const exit = new Promise<number | null>((done) => child.once('close', (code) => done(code)));
  return { child, output: () => output, exit };
}

/**
 * Holds a company row (FOR UPDATE, in a transaction of the test's own) so that the command's
 * re-sealing of it waits; `stopped` runs while it waits, then the row is let go.
 */
async function holdingRow(id: string, stopped: () => Promise<void>): Promise<void> {
  const holder = t.ctx.sql;
  const reserved: postgres.ReservedSql = await holder.reserve();
  try {
    await reserved`begin`;
    await reserved`select 1 from companies where id = ${id} for update`;
    await stopped();
    await reserved`rollback`;
  } finally {
    reserved.release();
  }
}

/** Resolves once an UPDATE of the management database waits for a lock (the command, held). */
async function commandWaitingOnRow(): Promise<void> {
  for (let i = 0; i < 600; i++) {
    const [row] = await t.ctx.sql<{ n: number }[]>`
      select count(*)::int as n from pg_stat_activity
      where datname = current_database() and wait_event_type = 'Lock' and query ilike 'update%'`;
    if (row!.n > 0) return;
    await sleep(50);
  }
  throw new Error('the command never reached the held row');
}

describe('silo secrets rotate-master-key', () => {
  it('re-seals everything in batches while both keys serve; stopped by Ctrl-C and killed part-way, a further run finishes it', async () => {
    // A JWT signing key is sealed too: every login below signs with it.
    const jwtKey = await runCli(['secrets', 'rotate-jwt-key'], {
      env: { ...cliEnvOf(t), SILO_MASTER_KEY: OLD },
      stdout: { write: () => true },
      stderr: { write: () => true },
    });
    expect(jwtKey).toBe(0);
    const serving = await instance(ROTATING);
    const ids = await companyIds();
    const { total } = await underNewKey();
    expect(total).toBeGreaterThanOrEqual(SLUGS.length + 2);

    // Ctrl-C while the second company waits: the command finishes that batch, says so and exits 1.
    const interrupted = rotateInChild();
    await holdingRow(ids[1]!, async () => {
      await commandWaitingOnRow();
      expect((await underNewKey()).opened).toBe(1);
      interrupted.child.kill('SIGINT');
      // The row is let go only once the command has heard the signal: otherwise, on a slow
      // machine, the batch under way could end before the signal is handled.
      for (let i = 0; i < 600 && !interrupted.output().includes('stopping after the batch under way'); i++) await sleep(50);
    });
    expect(await interrupted.exit, interrupted.output()).toBe(1);
    expect(interrupted.output()).toContain('interrupted after re-sealing 2; run it again to finish');
    expect((await underNewKey()).opened).toBe(2);

    // SIGKILL while the fourth company waits: the third is re-sealed and committed, the rest not.
    const killed = rotateInChild();
    await holdingRow(ids[3]!, async () => {
      await commandWaitingOnRow();
      expect((await underNewKey()).opened).toBe(3);
      killed.child.kill('SIGKILL');
      expect(await killed.exit).toBe(null);
    });
    // (The killed command's last UPDATE may still complete once the row is let go: it is whole either way.)
    const half = await underNewKey();
    expect(half.opened).toBeGreaterThanOrEqual(3);
    expect(half.opened).toBeLessThan(total);
    // Half-way, an instance holding both keys serves every company.
    for (const slug of SLUGS) expect(await serving.logIn(slug), slug).toBe(200);

    const finished = rotateInChild();
    expect(await finished.exit, finished.output()).toBe(0);
    expect(finished.output()).toContain('SILO_MASTER_KEY_PREVIOUS can be removed');
    for (const output of [interrupted.output(), killed.output(), finished.output()]) {
      for (const key of [OLD, NEW]) expect(output).not.toContain(key);
    }
    expect(await underNewKey()).toEqual({ opened: total, total });

    // The new key alone now serves everything, and the old one no longer starts Silo.
    const after = await instance({ SILO_MASTER_KEY: NEW });
    for (const slug of SLUGS) expect(await after.logIn(slug), slug).toBe(200);
    await expect(instance({ SILO_MASTER_KEY: OLD })).rejects.toThrow(/SILO_MASTER_KEY is not the master key/);
  }, 120_000);

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
