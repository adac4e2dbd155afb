// The data plane's entry: which company a request is for (a short-lived registry cache of company
// rows) and its database (the pool map). A change to a company reaches every Silo instance:
// companyChanged() forgets it here and publishes it with NOTIFY; every instance LISTENs.
import { eq } from 'drizzle-orm';
import { LRUCache } from 'lru-cache';
import type { Sql } from 'postgres';
import type { ManagementDb } from '../control-plane/db.ts';
import { companies, type CompanyRow } from '../control-plane/schema.ts';
import { type CredentialBox, sealedAt } from '../base/crypto/credentials.ts';
import { describeError } from '../base/errors.ts';
import type { Logger } from '../base/logger.ts';
import type { ServerConnections } from '../control-plane/server-connections.ts';
import { staleEntry } from '../base/stale-cache.ts';
import { companyPoolTarget } from './company-database.ts';
import { PoolMap, type PoolMapOptions, type TenantDb, type TenantTarget } from './pool-map.ts';
import { tenantPoolOpener } from './tenant-db.ts';
import { SqlRunCounts } from './read-only-sql.ts';
import type { CompanyRole } from '../base/auth/tokens.ts';

export const COMPANY_CHANGED_CHANNEL = 'silo_company_changed';
/** `<company id>:<user id>` of a company user deleted or given another role. */
export const USER_CHANGED_CHANNEL = 'silo_user_changed';

/** Ids as PostgreSQL prints a uuid: company ids and tenant user ids are uuids. */
const UUID_TEXT = '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}';
const UUID = new RegExp(`^${UUID_TEXT}$`);
const USER_KEY = new RegExp(`^${UUID_TEXT}:${UUID_TEXT}$`);

/** How long a refused login waits for a rotation of the company's password to commit. */
const SETTLE_WAIT_MS = 5_000;

export interface TenantsOptions extends PoolMapOptions {
  /** How long a company row is trusted without asking the management database again. */
  registryTtlMs: number;
  /**
   * How long past its TTL a row may still serve while the management database cannot be reached
   * (0: never). Bounded because, cut off from it, this instance also misses the NOTIFYs of changes.
   */
  registryStaleMs: number;
}

export class Tenants {
  readonly pools: PoolMap;
  /** Runs of the read-only executor (src/data-plane/read-only-sql.ts), for /metrics. */
  readonly sqlRuns = new SqlRunCounts();
  private readonly rows: LRUCache<string, CompanyRow | 'missing'>;
  /** Single flight: concurrent lookups of one company share one query. */
  private readonly loading = new Map<string, Promise<CompanyRow | undefined>>();
  /** Bumped by every forget(), so a lookup that raced a change does not cache the old row. */
  private generation = 0;
  /**
   * Company users' current roles, by `<company id>:<user id>`. A token names the role it was issued
   * with and lives up to SILO_TOKEN_TTL; the user may have been deleted or demoted since. Asking the
   * company's database on every request would cost a query each, so the answer is kept as long as
   * a company row is, and forgotten at once when a change is published.
   */
  private readonly userRoles: LRUCache<string, CompanyRole | 'missing'>;
  private userGeneration = 0;
  private readonly staleMs: number;
  /** What the pool map needs to reach a company, by company row. */
  private readonly targets = new WeakMap<CompanyRow, TenantTarget>();

  constructor(
    private readonly deps: { db: ManagementDb; sql: Sql; box: CredentialBox; servers: ServerConnections; log: Logger },
    options: TenantsOptions,
  ) {
    this.pools = new PoolMap(options, tenantPoolOpener);
    // Stale rows are kept (not deleted on a read) so that an outage of the management database can
    // fall back to them (src/base/stale-cache.ts).
    this.rows = new LRUCache<string, CompanyRow | 'missing'>({
      max: 10_000,
      ttl: Math.max(1, options.registryTtlMs),
      noDeleteOnStaleGet: true,
    });
    this.staleMs = options.registryStaleMs;
    this.userRoles = new LRUCache<string, CompanyRole | 'missing'>({ max: 100_000, ttl: Math.max(1, options.registryTtlMs) });
  }

  /** The company row for an id, from the cache when fresh. */
  async company(id: string): Promise<CompanyRow | undefined> {
    const cached = this.rows.get(id);
    if (cached !== undefined) return cached === 'missing' ? undefined : cached;
    let pending = this.loading.get(id);
    if (!pending) {
      const load = this.load(id).finally(() => {
        if (this.loading.get(id) === load) this.loading.delete(id);
      });
      this.loading.set(id, load);
      pending = load;
    }
    return pending;
  }

  private async load(id: string): Promise<CompanyRow | undefined> {
    const generation = this.generation;
    let row: CompanyRow | undefined;
    try {
      [row] = await this.deps.db.select().from(companies).where(eq(companies.id, id));
    } catch (error) {
      const stale = staleEntry(this.rows, id, this.staleMs);
      if (stale === undefined) throw error;
      return stale === 'missing' ? undefined : stale;
    }
    if (generation === this.generation) this.rows.set(id, row ?? 'missing');
    return row;
  }

  /** Runs work on the company's database, as the company's role, through the pool map. */
  run<T>(company: CompanyRow, work: (db: TenantDb) => Promise<T>): Promise<T> {
    // One target per company row (rows are never changed in place; a changed company is a new row),
    // not a new object and closure per request.
    let target = this.targets.get(company);
    if (!target) {
      target = companyPoolTarget(this.deps, company, {
        password: () => this.currentPassword(company),
        refused: () => this.passwordSettled(company),
      });
      this.targets.set(company, target);
    }
    return this.pools.run(target, work);
  }

  /**
   * The company role's password for a new connection, read from the management database each time
   * so that a rotated password (src/operations/credential-rotation.ts) applies to the pools already
   * open, here and in every instance. Should the management database not answer, the cached row's
   * password is used.
   */
  private async currentPassword(company: CompanyRow): Promise<string> {
    try {
      const [row] = await this.deps.db
        .select({ credentials: companies.credentialsEncrypted })
        .from(companies)
        .where(eq(companies.id, company.id));
      if (row?.credentials) return this.deps.box.open(row.credentials, sealedAt.companyCredentials(company.id));
    } catch (error) {
      this.deps.log.debug({ companyId: company.id, error: describeError(error) }, 'password read from the cached company row');
    }
    return this.deps.box.open(company.credentialsEncrypted!, sealedAt.companyCredentials(company.id));
  }

  /**
   * Resolves once no credential rotation of the company is under way: a rotation holds the row (FOR
   * UPDATE) from before it sets the role's password until the new one is committed. Called after a
   * refused login (src/data-plane/rotating-login.ts), so that the next login reads the password the
   * role now has. Waits at most SETTLE_WAIT_MS (a rotation stuck on an unreachable server must not
   * hold requests), and not at all when the management database cannot be reached.
   */
  private async passwordSettled(company: CompanyRow): Promise<void> {
    this.deps.log.info({ companyId: company.id }, 'tenant login refused; trying again once a rotation of its password has committed');
    const settled = this.deps.db
      .select({ id: companies.id })
      .from(companies)
      .where(eq(companies.id, company.id))
      .for('key share')
      .catch((error: unknown) =>
        this.deps.log.debug({ companyId: company.id, error: describeError(error) }, 'could not wait for a rotation'),
      );
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, SETTLE_WAIT_MS);
    });
    await Promise.race([settled, timeout]).finally(() => clearTimeout(timer));
  }

  /**
   * A company user's current role (undefined: the user is gone), from the cache when fresh; `load`
   * reads it from the company's database.
   */
  async userRole(companyId: string, userId: string, load: () => Promise<CompanyRole | undefined>): Promise<CompanyRole | undefined> {
    const key = `${companyId}:${userId}`;
    const cached = this.userRoles.get(key);
    if (cached !== undefined) return cached === 'missing' ? undefined : cached;
    const generation = this.userGeneration;
    const role = await load();
    if (generation === this.userGeneration) this.userRoles.set(key, role ?? 'missing');
    return role;
  }

  /** A company user was deleted or given another role: forget it here and in every instance. */
  async userChanged(companyId: string, userId: string): Promise<void> {
    this.forgetUser(`${companyId}:${userId}`);
    await this.deps.sql`select pg_notify(${USER_CHANGED_CHANNEL}, ${`${companyId}:${userId}`})`.catch((error: Error) =>
      this.deps.log.warn({ companyId, userId, error: error.message }, 'could not publish a user change'),
    );
  }

  private forgetUser(key: string): void {
    this.userGeneration++;
    this.userRoles.delete(key);
  }

  /** Forget a company in this instance: its cached row and its pool. */
  forget(companyId: string): void {
    this.generation++;
    this.rows.delete(companyId);
    this.loading.delete(companyId);
    this.pools.evict(companyId);
  }

  /** A company changed (status, limits, credentials, placement): forget it everywhere. */
  async companyChanged(companyId: string): Promise<void> {
    this.forget(companyId);
    await this.deps.sql`select pg_notify(${COMPANY_CHANGED_CHANNEL}, ${companyId})`.catch((error: Error) =>
      this.deps.log.warn({ companyId, error: error.message }, 'could not publish a company change'),
    );
  }

  /**
   * Listen for changes published by other instances. Only well-formed ids are acted on: anyone who
   * can connect to the management database can NOTIFY, and even a payload that names nothing would
   * bump the generations and keep the caches from caching.
   */
  async listen(): Promise<void> {
    await this.deps.sql.listen(COMPANY_CHANGED_CHANNEL, (payload) => {
      if (UUID.test(payload)) this.forget(payload);
      else this.ignoreNotification(COMPANY_CHANGED_CHANNEL, payload);
    });
    await this.deps.sql.listen(USER_CHANGED_CHANNEL, (payload) => {
      if (USER_KEY.test(payload)) this.forgetUser(payload);
      else this.ignoreNotification(USER_CHANGED_CHANNEL, payload);
    });
  }

  private ignoreNotification(channel: string, payload: string): void {
    // The payload is not logged: it comes from whoever sent it.
    this.deps.log.warn({ channel, payloadLength: payload.length }, 'ignored a change notification that names no id');
  }

  async close(): Promise<void> {
    this.rows.clear();
    this.userRoles.clear();
    await this.pools.close();
  }
}
