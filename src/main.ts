// `npm start`: the HTTP server. With no DATABASE_URL it runs on the embedded PostgreSQL.
import { serve } from '@hono/node-server';
import { openSilo } from './bootstrap.ts';
import { ConfigError, loadConfig } from './config/config.ts';
import { createApp } from './http/app.ts';

async function main() {
  const config = loadConfig();
  const silo = await openSilo(config, { prepareTemplates: true, listen: true });
  const { log } = silo.ctx;
  const app = createApp(silo.ctx);
  const server = serve({ fetch: app.fetch, port: config.port }, (info) => {
    log.info({ port: info.port }, `Silo is listening on http://localhost:${info.port}`);
  });

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'shutting down');
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
