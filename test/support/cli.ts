// The `silo` CLI run in-process against a test file's own Silo (same management database, prefix
// and secrets), its output captured.
import { runCli } from '../../src/cli/main.ts';
import type { TestSilo } from './test-silo.ts';

/** `tenantMigrationsFolder`: the commands apply that folder's migrations (a schema change's test). */
export function cliFor(t: TestSilo, options: { tenantMigrationsFolder?: string } = {}) {
  const env = { DATABASE_URL: t.config.databaseUrl!, SILO_DATA_DIR: t.config.dataDir, SILO_DB_PREFIX: t.config.dbPrefix };
  return async (...argv: string[]) => {
    const stdout: string[] = [];
    const stderr: string[] = [];
    const code = await runCli(argv, {
      env,
      stdout: { write: (chunk: string) => stdout.push(chunk) },
      stderr: { write: (chunk: string) => stderr.push(chunk) },
      ...options,
    });
    return { code, stdout: stdout.join(''), stderr: stderr.join('') };
  };
}
