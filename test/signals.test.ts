// `npm start` stopped by a process manager: SIGTERM or SIGINT to the npm process ends Silo
// gracefully, its embedded PostgreSQL included, and frees both ports. (The same for
// `node dist/main.js` is in production-build.test.ts.)
import { rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it, onTestFinished } from 'vitest';
import { killLeftover, operatorEnv, portAnswers, processAlive, siloDataDir, startSiloProcess, stopWith } from './support/silo-process.ts';

const root = fileURLToPath(new URL('..', import.meta.url));
const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

describe('npm start under a process manager', () => {
  // HOST is set in one of the two runs: the summary names the address it bound.
  for (const [signal, host] of [
    ['SIGTERM', undefined],
    ['SIGINT', '127.0.0.1'],
  ] as const) {
    it(`stops Silo and its embedded PostgreSQL on ${signal} to npm`, async () => {
      const dataDir = siloDataDir();
      dirs.push(dataDir);
      const env = operatorEnv({ SILO_DATA_DIR: dataDir, ...(host ? { HOST: host } : {}) });
      const silo = await startSiloProcess('npm', ['start'], { cwd: root, env });
      onTestFinished(() => killLeftover(silo));
      const httpPort = Number(new URL(silo.url).port);
      expect(silo.url).toBe(`http://${host ?? 'localhost'}:${httpPort}`);
      expect(silo.lines.join('\n')).toContain(`on ${silo.url} (${host ? `${host} only` : 'every interface'}); data in ${dataDir};`);
      // No admin was configured: the next line says how to make one.
      await expect.poll(() => silo.lines.join('\n')).toContain('no system admin yet: create one with `silo admin create --email');
      expect(await (await fetch(`${silo.url}/health`)).json()).toEqual({ status: 'ok' });
      expect(processAlive(silo.postmasterPid)).toBe(true);

      const { code } = await stopWith(silo, signal);
      expect(code).toBe(0);
      expect(silo.lines.some((line) => line.includes(`"signal":"${signal}"`) && line.includes('shutting down'))).toBe(true);
      expect(silo.lines.some((line) => line.includes('"msg":"stopped"'))).toBe(true);
      expect(processAlive(silo.postmasterPid)).toBe(false);
      expect(await portAnswers(httpPort)).toBe(false);
      expect(await portAnswers(silo.postgresPort)).toBe(false);
    }, 150_000);
  }
});
