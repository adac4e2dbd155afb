// `npm start`: the HTTP server. With no DATABASE_URL it runs on the embedded PostgreSQL.
import { serve } from '@hono/node-server';
import { openSilo } from './bootstrap.ts';
import { ConfigError, loadConfig } from './config/config.ts';
import type { Server } from 'node:http';
import { createApp } from './http/app.ts';
import { serverOptions } from './http/server-limits.ts';
import { fleetStatus, migrateFleet } from './migrations/fleet.ts';
import { startBackupScheduler } from './operations/backups/schedule.ts';

async function main() {
  const config = loadConfig();
  const silo = await openSilo(config, { prepareTemplates: true, listen: true });
  const { log } = silo.ctx;
  const app = createApp(silo.ctx);
  const server = serve({ fetch: app.fetch, port: config.port, serverOptions }, (info) => {
    log.info({ port: info.port }, `Silo is listening on http://localhost:${info.port}`);
  });
  // A port that cannot be had ends the start with one line, the database server stopped first.
  server.once('error', (error: NodeJS.ErrnoException) => {
    const reason =
      error.code === 'EADDRINUSE'
        ? `port ${config.port} is already in use (another Silo?): stop that process or choose another port with PORT`
        : `cannot listen on port ${config.port} (${error.code ?? error.message})`;
    console.error(`Silo failed to start: ${reason}`);
    void silo.close().finally(() => process.exit(1));
  });
  // The connection cap is a property of the server, not a createServer() option.
  (server as Server).maxConnections = config.httpMaxConnections;

  // An upgrade leaves companies behind until they are migrated: say how many, and with
  // SILO_MIGRATE_ON_START migrate them in the background (each is also migrated on its first request).
  const fleet = await fleetStatus(silo.ctx);
  if (fleet.behind > 0) log.warn({ behind: fleet.behind, latest: fleet.latest }, 'companies are behind the latest tenant schema');
  const migrating = new AbortController();
  if (config.migrateOnStart && fleet.behind > 0) {
    void migrateFleet(silo.ctx, { concurrency: 4, actor: 'system:start', signal: migrating.signal })
      .then((run) => {
        const failed = run.results.filter((r) => r.status === 'failed').length;
        log.info({ runId: run.runId, companies: run.total, failed }, 'fleet migration on start finished');
      })
      .catch((error: Error) => log.error({ error: error.message }, 'fleet migration on start failed'));
  }

  const backups = startBackupScheduler(silo.ctx);

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'shutting down');
    migrating.abort();
    backups.stop();
    server.close();
    await silo.close();
    process.exit(0);
  };
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGTERM', () => void stop('SIGTERM'));
}

main().catch((error: unknown) => {
  // Configuration errors name the variable; anything else gets its message, never a value.
  const message = error instanceof ConfigError ? error.message : `Silo failed to start: ${(error as Error)?.message ?? error}`;
  console.error(message);
  process.exit(1);
});
