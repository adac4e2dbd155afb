// The data plane's entry: which company a request is for (a short-lived registry cache of company
// rows) and its database (the pool map). A change to a company reaches every Silo instance:
// companyChanged() forgets it here and publishes it with NOTIFY; every instance LISTENs.
import { eq } from 'drizzle-orm';
import { LRUCache } from 'lru-cache';
import type { Sql } from 'postgres';
import type { ManagementDb } from '../control-plane/db.ts';
import { companies } from '../control-plane/schema.ts';
import type { CredentialBox } from '../crypto/credentials.ts';
import { SiloError } from '../errors.ts';
import type { Logger } from '../logger.ts';
import type { ServerConnections } from '../services/server-connections.ts';
import { PoolMap, type PoolMapOptions, type TenantDb } from './pool-map.ts';

export const COMPANY_CHANGED_CHANNEL = 'silo_company_changed';

export type CompanyRecord = typeof companies.$inferSelect;

export interface TenantsOptions extends PoolMapOptions {
  /** How long a company row is trusted without asking the management database again. */
  registryTtlMs: number;
}

export class Tenants {
  readonly pools: PoolMap;
  private readonly registry: LRUCache<string, CompanyRecord | 'missing'>;

  constructor(
    private readonly deps: { db: ManagementDb; sql: Sql; box: CredentialBox; servers: ServerConnections; log: Logger },
    options: TenantsOptions,
  ) {
    this.pools = new PoolMap(options);
    this.registry = new LRUCache<string, CompanyRecord | 'missing'>({
      max: 10_000,
      ttl: options.registryTtlMs,
      // Concurrent lookups of one company share one query.
      fetchMethod: async (id) => {
        const [row] = await deps.db.select().from(companies).where(eq(companies.id, id));
        return row ?? 'missing';
      },
    });
  }

  /** The company row for an id, from the cache when fresh. */
  async company(id: string): Promise<CompanyRecord | undefined> {
    const found = await this.registry.fetch(id);
    return found === 'missing' ? undefined : found;
  }

  /** Runs work on the company's database, as the company's role, through the pool map. */
  run<T>(company: CompanyRecord, work: (db: TenantDb, sql: Sql) => Promise<T>): Promise<T> {
    const { serverId, databaseName, roleName, credentialsEncrypted } = company;
    if (!serverId || !databaseName || !roleName || !credentialsEncrypted) {
      throw new SiloError('unavailable', 'the company has no database to reach');
    }
    return this.pools.run(
      {
        companyId: company.id,
        serverId,
        url: () => this.deps.servers.urlFor(serverId, databaseName, { user: roleName, password: this.deps.box.open(credentialsEncrypted) }),
      },
      work,
    );
  }

  /** Forget a company in this instance: its cached row and its pool. */
  forget(companyId: string): void {
    this.registry.delete(companyId);
    this.pools.evict(companyId);
  }

  /** A company changed (status, limits, credentials, placement): forget it everywhere. */
  async companyChanged(companyId: string): Promise<void> {
    this.forget(companyId);
    await this.deps.sql`select pg_notify(${COMPANY_CHANGED_CHANNEL}, ${companyId})`.catch((error: Error) =>
      this.deps.log.warn({ companyId, error: error.message }, 'could not publish a company change'),
    );
  }

  /** Listen for changes published by other instances. */
  async listen(): Promise<void> {
    await this.deps.sql.listen(COMPANY_CHANGED_CHANNEL, (companyId) => this.forget(companyId));
  }

  async close(): Promise<void> {
    this.registry.clear();
    await this.pools.close();
  }
}
