// The composition root: from configuration to a ready SiloContext. The server (src/main.ts), the
// CLI and the tests all start here, so they act on the same fleet in the same way.
import { fileURLToPath } from 'node:url';
import type { DestinationStream } from 'pino';
import { SigningKeys } from './control-plane/signing-keys.ts';
import { createTokenService } from './base/auth/tokens.ts';
import type { Config } from './base/config/config.ts';
import { resolveSecrets } from './base/config/secrets.ts';
import type { SiloContext } from './context.ts';
import { closeToPublic, EMBEDDED_MAINTENANCE_DATABASES } from './control-plane/connect-privileges.ts';
import { connectManagement } from './control-plane/db.ts';
import { openSharedDatabase, type SharedConnection } from './control-plane/shared-db.ts';
import { createCredentialBox } from './base/crypto/credentials.ts';
import { checkMasterKey } from './control-plane/master-key-check.ts';
import { resealStored } from './base/crypto/reseal.ts';
import { openPostgres } from './base/db/postgres-client.ts';
import { ensureDatabase } from './base/db/ensure-database.ts';
import { configureDatabaseTls } from './base/db/tls.ts';
import { startEmbeddedPostgres, type EmbeddedServer } from './base/embedded/embedded-postgres.ts';
import { createLogger, type Logger } from './base/logger.ts';
import { loadMigrationSet } from './base/db/migration-set.ts';
import { applyMigrations } from './base/db/migration-runner.ts';
import { applyTenantConnectionLimit } from './operations/provisioning/connection-limit.ts';
import { ensureTemplate } from './operations/provisioning/template.ts';
import { startWarmRefiller } from './operations/provisioning/warm-refiller.ts';
import { createServerConnections } from './control-plane/server-connections.ts';
import { configureNeonDriver } from './providers/neon/driver.ts';
import { listServers, registerDefaultServer } from './control-plane/server-records.ts';
import { ensureFirstSystemAdmin } from './control-plane/system-users.ts';
import { Tenants } from './data-plane/tenants.ts';
import { closeFileStorage } from './data-plane/files/index.ts';
import { closeBackupStorage } from './operations/backups/storage-of.ts';
import { listenForServerChanges } from './operations/server-changes.ts';

export const migrationsFolder = (set: 'management' | 'tenant' | 'shared') =>
  fileURLToPath(new URL(`../migrations/${set}`, import.meta.url));

const EMBEDDED_MANAGEMENT_DATABASE = 'silo';

export interface Silo {
  ctx: SiloContext;
  /** What the server's start-up summary reports (src/startup-summary.ts). */
  started: StartedWith;
  close(): Promise<void>;
}

export interface StartedWith {
  /** host:port/database of the management database; never its login. */
  management: string;
  /** The embedded server's cluster folder, when Silo runs it. */
  embeddedCluster?: string;
  /** What became of SILO_ADMIN_EMAIL/SILO_ADMIN_PASSWORD: unset, used, or ignored (an admin existed). */
  adminFromEnvironment: 'unset' | 'created' | 'ignored';
}

function managementAddress(url: string): string {
  const parsed = new URL(url);
  return `${parsed.hostname}:${parsed.port || '5432'}${parsed.pathname}`;
}

export interface OpenOptions {
  log?: Logger;
  logDestination?: DestinationStream;
  /** Migrate every active server's template now (the server does; short CLI commands do not). */
  prepareTemplates?: boolean;
  /** LISTEN for company changes made by other instances (servers do; the CLI has no caches). */
  listen?: boolean;
  tenantMigrationsFolder?: string;
  /** Keep every postgres server's warm pool filled in the background (the server does). */
  warmPool?: boolean;
}

export async function openSilo(config: Config, options: OpenOptions = {}): Promise<Silo> {
  const log = options.log ?? createLogger(config.logLevel, options.logDestination);
  const secrets = resolveSecrets(config);
  configureDatabaseTls({ caFile: config.dbCaFile, minimumMode: config.dbSslMode, log });

  let embedded: EmbeddedServer | undefined;
  let serverUrl = config.databaseUrl;
  let managementUrl = config.databaseUrl;
  if (!serverUrl) {
    embedded = await startEmbeddedPostgres(config.dataDir, { log: (line) => log.debug({ postgres: line }) });
    serverUrl = embedded.url;
    managementUrl = await ensureDatabase(serverUrl, EMBEDDED_MANAGEMENT_DATABASE);
  }

  // Management migrations on a client of their own with one connection (the runner's session lock
  // needs one connection, and a pool's reserve() is avoided: see src/base/db/migration-runner.ts).
  const migrator = openPostgres(managementUrl!, { max: 1, connection: { application_name: 'silo-migrate' } });
  try {
    await applyMigrations(migrator, loadMigrationSet(migrationsFolder('management')));
    // Tenant roles live on this server too (the default server): none may reach Silo's own data.
    await closeToPublic(migrator, log);
    if (embedded) for (const database of EMBEDDED_MAINTENANCE_DATABASES) await closeToPublic(migrator, log, database);
  } catch (error) {
    await embedded?.stop();
    throw error;
  } finally {
    await migrator.end({ timeout: 5 });
  }
  let shared: SharedConnection;
  try {
    shared = await openSharedDatabase(managementUrl!, config.dbPrefix, loadMigrationSet(migrationsFolder('shared')), log);
  } catch (error) {
    await embedded?.stop();
    throw error;
  }
  const management = connectManagement(managementUrl!);

  const box = createCredentialBox(secrets.masterKey, config.masterKeyPrevious);
  const servers = createServerConnections(management.db, box);
  configureNeonDriver({ wsProxy: config.neonWsProxy, connectTimeoutSeconds: config.neonConnectTimeoutSeconds });
  const tenants = new Tenants({ db: management.db, sql: management.sql, box, servers, log }, config.pools);
  const ctx: SiloContext = {
    config,
    db: management.db,
    sql: management.sql,
    locks: management.locks,
    shared: shared.db,
    box,
    tokens: createTokenService(
      new SigningKeys({ db: management.db, sql: management.sql, box, log }, secrets.jwtSecret, config.tokenTtlSeconds),
      config.tokenTtlSeconds,
    ),
    servers,
    tenants,
    tenantMigrations: loadMigrationSet(options.tenantMigrationsFolder ?? migrationsFolder('tenant')),
    log,
  };

  let adminFromEnvironment: StartedWith['adminFromEnvironment'] = 'unset';
  try {
    await checkMasterKey(management.db, box, secrets.masterKeySource);
    const upgraded = await resealStored(management.sql, box, { which: 'earlier-format' });
    if (upgraded.resealed > 0)
      log.info({ resealed: upgraded.resealed }, 're-sealed stored credentials in the current format (bound to their rows)');
    await registerDefaultServer(ctx, serverUrl);
    if (options.listen) {
      await tenants.listen();
      await listenForServerChanges(ctx);
    }
    if (config.admin) adminFromEnvironment = (await ensureFirstSystemAdmin(ctx, config.admin)) ? 'created' : 'ignored';
    if (options.prepareTemplates) {
      for (const server of await listServers(ctx)) {
        if (server.status !== 'active' || server.provider !== 'postgres') continue;
        await ensureTemplate(ctx, server.id).catch((error: Error) =>
          log.warn({ serverId: server.id, error: error.message }, 'could not prepare the template; creation will migrate instead'),
        );
        await applyTenantConnectionLimit(ctx, server.id).catch((error: Error) =>
          log.warn({ serverId: server.id, error: error.message }, 'could not check the connection limit of tenant roles'),
        );
      }
    }
  } catch (error) {
    await tenants.close();
    await servers.close();
    await management.sql.end({ timeout: 5 });
    await management.locks.end({ timeout: 5 });
    await shared.sql.end({ timeout: 5 });
    await embedded?.stop();
    throw error;
  }

  const refiller = options.warmPool ? startWarmRefiller(ctx) : undefined;
  if (refiller) ctx.warmPool = refiller;

  let closed = false;
  const started: StartedWith = {
    management: managementAddress(managementUrl!),
    ...(embedded ? { embeddedCluster: embedded.clusterDir } : {}),
    adminFromEnvironment,
  };
  return {
    ctx,
    started,
    async close() {
      if (closed) return;
      closed = true;
      // A clone under way finishes (or is undone) before the connections it uses are closed.
      await refiller?.stop();
      await tenants.close();
      await closeFileStorage(config);
      await closeBackupStorage(config);
      await ctx.servers.close();
      await management.sql.end({ timeout: 5 });
      await management.locks.end({ timeout: 5 });
      await shared.sql.end({ timeout: 5 });
      await embedded?.stop();
    },
  };
}
