// What `npm start` says once it listens, in two lines an operator can act on: where Silo listens,
// where its data lives, which database servers it uses, and whether anyone can log in as a system
// admin (if not, the command that makes one). Addresses only: never a login or a password.
import { resolve } from 'node:path';
import { count } from 'drizzle-orm';
import type { StartedWith } from './bootstrap.ts';
import type { SiloContext } from './context.ts';
import { systemUsers } from './control-plane/schema.ts';
import { listServers } from './control-plane/server-records.ts';

/** How a person reaches the listener: localhost when it listens on every interface. */
export function listeningUrl(host: string | undefined, port: number): string {
  const shown = host === undefined || host === '0.0.0.0' || host === '::' ? 'localhost' : host;
  return `http://${shown.includes(':') ? `[${shown}]` : shown}:${port}`;
}

export const CREATE_ADMIN_HINT =
  'no system admin yet: create one with `silo admin create --email <email> --password-stdin` ' +
  '(or start once with SILO_ADMIN_EMAIL and SILO_ADMIN_PASSWORD set)';

export async function logStartupSummary(ctx: SiloContext, started: StartedWith, port: number): Promise<void> {
  const { config, log } = ctx;
  if (started.adminFromEnvironment === 'created') log.info({ email: config.admin?.email }, 'created the first system admin');
  if (started.adminFromEnvironment === 'ignored')
    log.warn(
      'SILO_ADMIN_EMAIL and SILO_ADMIN_PASSWORD are ignored: a system admin already exists, and no password was changed ' +
        '(`silo admin create` adds an admin, `silo admin reset-password` changes a password)',
    );
  const where = config.host === undefined ? 'every interface' : `${config.host} only`;
  const management = started.embeddedCluster
    ? `the embedded PostgreSQL (${started.management}, cluster in ${started.embeddedCluster})`
    : `${started.management} (DATABASE_URL)`;
  log.info(
    {
      listen: listeningUrl(config.host, port),
      dataDir: resolve(config.dataDir),
      management: started.management,
      ...(started.embeddedCluster ? { embeddedCluster: started.embeddedCluster } : {}),
    },
    `Silo is listening on ${listeningUrl(config.host, port)} (${where}); data in ${resolve(config.dataDir)}; management database on ${management}`,
  );

  const [servers, [admins]] = await Promise.all([listServers(ctx), ctx.db.select({ n: count() }).from(systemUsers)]);
  const serverList = servers.map((s) => `${s.name} (${s.provider} ${s.host}, ${s.status}, ${s.companies} companies)`).join(', ');
  const adminNote = admins && admins.n > 0 ? `system admins: ${admins.n}` : CREATE_ADMIN_HINT;
  log.info({ servers: servers.length, systemAdmins: admins?.n ?? 0 }, `database servers: ${serverList || 'none'}; ${adminNote}`);
}
