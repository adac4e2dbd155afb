// `npm start`: the HTTP server. With no DATABASE_URL it runs on the embedded PostgreSQL.
import { serve } from '@hono/node-server';
import { openSilo } from './bootstrap.ts';
import { ConfigError, loadConfig } from './base/config/config.ts';
import type { Server } from 'node:http';
import { createApp } from './http/app.ts';
import { serverOptions } from './http/server-limits.ts';
import { fleetStatus, migrateFleet } from './operations/migrations/fleet.ts';
import { startBackupScheduler } from './operations/backups/schedule.ts';
import { demoLoginLines, ensureDemoCompanies } from './operations/demo/demo.ts';
import { logStartupSummary } from './startup-summary.ts';
import { limitHeapGrowth } from './base/heap-growth.ts';

/** How long requests under way may take to finish on shutdown before their connections are cut. */
const DRAIN_MS = 10_000;

async function main() {
  // A long-running server: keep dead tenant pools from piling up in the heap (heap-growth.ts).
  limitHeapGrowth();
  const config = loadConfig();
  const silo = await openSilo(config, { prepareTemplates: true, listen: true, warmPool: true });
  const { log } = silo.ctx;
  const app = createApp(silo.ctx);
  const server = serve({ fetch: app.fetch, port: config.port, hostname: config.host, serverOptions }, (info) => {
    logStartupSummary(silo.ctx, silo.started, info.port).catch((error: Error) =>
      log.warn({ error: error.message }, 'could not report the start-up summary'),
    );
  }) as Server;
  // A port that cannot be had ends the start with one line, the database server stopped first.
  server.once('error', (error: NodeJS.ErrnoException) => {
    const reason =
      error.code === 'EADDRINUSE'
        ? `port ${config.port} is already in use (another Silo?): stop that process or choose another port with PORT`
        : `cannot listen on ${config.host ?? 'every interface'}, port ${config.port} (${error.code ?? error.message})`;
    console.error(`Silo failed to start: ${reason}`);
    void silo.close().finally(() => process.exit(1));
  });
  // The connection cap is a property of the server, not a createServer() option.
  server.maxConnections = config.httpMaxConnections;

  const migrating = new AbortController();
  let backups: ReturnType<typeof startBackupScheduler> | undefined;
  // A process manager's SIGTERM (or Ctrl-C), handled from the moment Silo listens (the work below
  // may take a while, the warm pool's first clones running beside it): no new connections,
  // requests under way finish (for DRAIN_MS at most), then the refiller, the pools and the
  // embedded PostgreSQL are stopped before exiting.
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'shutting down');
    migrating.abort();
    backups?.stop();
    const drained = new Promise<void>((done) => server.close(() => done()));
    server.closeIdleConnections();
    const cut = setTimeout(() => server.closeAllConnections(), DRAIN_MS);
    await drained;
    clearTimeout(cut);
    await silo.close();
    log.info('stopped');
    process.exit(0);
  };
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGTERM', () => void stop('SIGTERM'));

  // An upgrade leaves companies behind until they are migrated: say how many, and with
  // SILO_MIGRATE_ON_START migrate them in the background (each is also migrated on its first request).
  const fleet = await fleetStatus(silo.ctx).catch((error: unknown) => {
    if (stopping) return null; // closed under it by a signal
    throw error;
  });
  if (!fleet || stopping) return;
  if (fleet.behind > 0) log.warn({ behind: fleet.behind, latest: fleet.latest }, 'companies are behind the latest tenant schema');
  if (config.migrateOnStart && fleet.behind > 0) {
    void migrateFleet(silo.ctx, { concurrency: 4, actor: 'system:start', signal: migrating.signal })
      .then((run) => {
        const failed = run.results.filter((r) => r.status === 'failed').length;
        log.info({ runId: run.runId, companies: run.total, failed }, 'fleet migration on start finished');
      })
      .catch((error: Error) => log.error({ error: error.message }, 'fleet migration on start failed'));
  }

  backups = startBackupScheduler(silo.ctx);

  // SILO_DEMO: the demo companies, their new logins printed once to stdout (never to the log).
  if (config.demo) {
    ensureDemoCompanies(silo.ctx, 'system:demo')
      .then((outcomes) => process.stdout.write(`Demo companies:\n${demoLoginLines(outcomes).join('\n')}\n`))
      .catch((error: Error) => log.error({ error: error.message }, 'could not create the demo companies'));
  }
}

main().catch((error: unknown) => {
  // Configuration errors name the variable; anything else gets its message, never a value.
  const message = error instanceof ConfigError ? error.message : `Silo failed to start: ${(error as Error)?.message ?? error}`;
  console.error(message);
  process.exit(1);
});
