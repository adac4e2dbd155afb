// A fleet run in its own process, so a test can kill it part-way (SIGKILL: no cleanup at all).
// Usage: tsx test/support/fleet-child.ts <tenant migrations folder>; configuration from the env.
// Prints one line per finished company, so the test knows when to strike.
import { openSilo } from '../../src/bootstrap.ts';
import { loadConfig } from '../../src/base/config/config.ts';
import { createLogger } from '../../src/base/logger.ts';
import { migrateFleet } from '../../src/operations/migrations/fleet.ts';

const folder = process.argv[2];
if (!folder) throw new Error('usage: fleet-child.ts <tenant migrations folder>');
const silo = await openSilo(loadConfig(), { log: createLogger('silent'), tenantMigrationsFolder: folder });
await migrateFleet(silo.ctx, {
  concurrency: 2,
  actor: 'test-child',
  onResult: (result) => process.stdout.write(`done ${result.slug} ${result.status}\n`),
});
await silo.close();
process.exit(0);
