// Connections to the database servers that hold tenant databases: one small admin pool per server
// (DDL: create/drop databases and roles), and short-lived clients that log in as a tenant's own
// role. Admin clients never use prepared statements: DDL names vary and would pile up per connection.
import { eq } from 'drizzle-orm';
import type { Sql } from 'postgres';
import type { ManagementDb } from './db.ts';
import { databaseServers } from './schema.ts';
import { type CredentialBox, sealedAt } from '../base/crypto/credentials.ts';
import { type ClientOptions, ONE_CONNECTION, openPostgres } from '../base/db/postgres-client.ts';
import { notFound, SiloError } from '../base/errors.ts';

export interface ServerConnections {
  /**
   * The admin pool for a server, opened on first use. A caller inside a management transaction
   * passes it as `via`, so that looking the server up does not wait for a second management
   * connection while holding one (enough such callers at once would empty the pool for good).
   */
  admin(serverId: string, via?: ManagementDb): Promise<Sql>;
  /** A URL for `database` on the server, logged in as `user` (or as the admin when omitted). */
  urlFor(serverId: string, database: string, login?: { user: string; password: string }): Promise<string>;
  /** A one-connection client; the caller ends it. */
  open(serverId: string, database: string, login?: { user: string; password: string }, options?: ClientOptions): Promise<Sql>;
  /** Ends every admin pool (idempotent). */
  close(): Promise<void>;
  /** Forgets a server's admin pool, e.g. after it was changed. */
  forget(serverId: string): Promise<void>;
}

export function createServerConnections(db: ManagementDb, box: CredentialBox): ServerConnections {
  const urls = new Map<string, string>();
  const pools = new Map<string, Sql>();

  async function adminUrl(serverId: string, via: ManagementDb = db): Promise<string> {
    const cached = urls.get(serverId);
    if (cached) return cached;
    const [row] = await via
      .select({ urlEncrypted: databaseServers.urlEncrypted, provider: databaseServers.provider })
      .from(databaseServers)
      .where(eq(databaseServers.id, serverId));
    if (!row) throw notFound('database server');
    // Neon and external servers have no admin login: their companies carry their own URLs.
    if (row.provider !== 'postgres' || !row.urlEncrypted) {
      throw new SiloError('conflict', `a ${row.provider} server has no admin connection; this works on postgres servers only`);
    }
    const url = box.open(row.urlEncrypted, sealedAt.serverUrl(serverId));
    urls.set(serverId, url);
    return url;
  }

  async function urlFor(serverId: string, database: string, login?: { user: string; password: string }) {
    const url = new URL(await adminUrl(serverId));
    url.pathname = `/${encodeURIComponent(database)}`;
    if (login) {
      url.username = encodeURIComponent(login.user);
      url.password = encodeURIComponent(login.password);
    }
    return url.toString();
  }

  return {
    async admin(serverId, via) {
      let pool = pools.get(serverId);
      if (!pool) {
        pool = openPostgres(await adminUrl(serverId, via), { max: 4, idle_timeout: 30, connect_timeout: 5, prepare: false });
        pools.set(serverId, pool);
      }
      return pool;
    },
    urlFor,
    async open(serverId, database, login, options = {}) {
      return openPostgres(await urlFor(serverId, database, login), { ...ONE_CONNECTION, ...options });
    },
    async forget(serverId) {
      urls.delete(serverId);
      const pool = pools.get(serverId);
      pools.delete(serverId);
      await pool?.end({ timeout: 5 });
    },
    async close() {
      const all = [...pools.values()];
      pools.clear();
      urls.clear();
      await Promise.all(all.map((p) => p.end({ timeout: 5 })));
    },
  };
}
