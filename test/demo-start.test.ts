// `SILO_DEMO=true npm start`: the demo companies are created on start, their logins printed once
// (and nowhere else in the output), usable at once; the warm pool's refiller runs alongside and
// SIGTERM still stops everything cleanly.
import { rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it, onTestFinished } from 'vitest';
import { killLeftover, operatorEnv, siloDataDir, startSiloProcess, stopWith } from './support/silo-process.ts';

const root = fileURLToPath(new URL('..', import.meta.url));
const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

describe('SILO_DEMO=true npm start', () => {
  it('creates the demo companies and prints their logins once', async () => {
    const dataDir = siloDataDir();
    dirs.push(dataDir);
    const env = operatorEnv({ SILO_DATA_DIR: dataDir, SILO_DEMO: 'true', SILO_WARM_POOL: '2' });
    const silo = await startSiloProcess('npm', ['start'], { cwd: root, env });
    onTestFinished(() => killLeftover(silo));
    await expect.poll(() => silo.lines.some((l) => l.startsWith('salon (')), { timeout: 120_000 }).toBe(true);
    const login = silo.lines.map((l) => /^ {2}(owner@techland\.example) {2}company_admin {2}password: (\S+)$/.exec(l)).find(Boolean);
    expect(login).toBeTruthy();
    const [, email, password] = login!;
    // The password is in that one line and nowhere else in what the process printed.
    expect(silo.lines.filter((l) => l.includes(password!))).toHaveLength(1);
    const res = await fetch(`${silo.url}/api/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email, password, company: 'techland' }),
    });
    expect(res.status).toBe(200);
    const { code } = await stopWith(silo, 'SIGTERM');
    expect(code).toBe(0);
    expect(silo.lines.some((line) => line.includes('"msg":"stopped"'))).toBe(true);
  }, 240_000);
});
