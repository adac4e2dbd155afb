// The `silo` CLI run in-process against a test file's own Silo (same management database, prefix
// and secrets), its output captured. `tty`: stdout and stderr say they are a terminal, as a
// person's shell is (progress bars are drawn only then).
import { runCli } from '../../src/cli/main.ts';
import type { TestSilo } from './test-silo.ts';

/** `tty`: stdout and stderr say they are terminals; `tenantMigrationsFolder`: the commands apply that folder's migrations. */
export function cliFor(t: TestSilo, options: { tty?: boolean; tenantMigrationsFolder?: string } = {}) {
  const env = { DATABASE_URL: t.config.databaseUrl!, SILO_DATA_DIR: t.config.dataDir, SILO_DB_PREFIX: t.config.dbPrefix };
  return async (...argv: string[]) => {
    const stdout: string[] = [];
    const stderr: string[] = [];
    const code = await runCli(argv, {
      env,
      stdout: { write: (chunk: string) => stdout.push(chunk), ...(options.tty ? { isTTY: true, columns: 100 } : {}) },
      stderr: { write: (chunk: string) => stderr.push(chunk), ...(options.tty ? { isTTY: true, columns: 100 } : {}) },
      ...(options.tenantMigrationsFolder ? { tenantMigrationsFolder: options.tenantMigrationsFolder } : {}),
    });
    return { code, stdout: stdout.join(''), stderr: stderr.join('') };
  };
}
