// The pool map: company id -> a small pool wrapped in drizzle (postgres.js, or Neon's serverless
// driver for neon companies), logged in as that company's own role. Bounded two ways so that any number of companies never exhausts a server's
// max_connections: at most `maxPools` pools in all, and at most `serverBudget` connections per
// database server (each pool may hold up to `perCompany` connections, so a server takes
// floor(serverBudget / perCompany) pools). Least recently used pools make room for new ones.
//
// Written by hand rather than on lru-cache because eviction here must wait: an evicted pool lets
// its in-flight queries finish (postgres.js end()), and until it has ended its connections still
// count against its server's budget, so a new pool on that server waits for the slot.
import type { RotatingLogin } from './rotating-login.ts';
import type { TenantDb, TenantDriver, TenantHandle, TenantPoolOpener } from './tenant-db.ts';

export type { TenantDb } from './tenant-db.ts';

export interface TenantTarget {
  companyId: string;
  /**
   * Whose connection budget the pool counts against: the database server's id, or for a company
   * on a host of its own (neon, external) that host.
   */
  serverId: string;
  driver?: TenantDriver;
  /** Connection string as the company's role; used only to open the pool, never kept elsewhere. */
  url: () => Promise<string>;
  /** When given, the password of every new connection of the pool (instead of the URL's). */
  login?: RotatingLogin;
}

/**
 * What opens a pool for a driver: tenantPoolOpener (src/data-plane/tenant-db.ts) in Silo; the
 * pool map's own tests pass one that opens nothing, to check its bookkeeping without a database.
 */
export type PoolOpeners = (driver: TenantDriver) => Promise<TenantPoolOpener>;

export interface PoolMapOptions {
  maxPools: number;
  perCompany: number;
  serverBudget: number;
  idleTimeoutSeconds: number;
  connectTimeoutSeconds: number;
  /** How long an evicted pool's queries may run before it is closed anyway. */
  drainTimeoutSeconds?: number;
}

interface Entry {
  companyId: string;
  serverId: string;
  handle: TenantHandle;
  /** Pieces of work running on this pool; an evicted pool ends when the last one finishes. */
  inFlight: number;
  /** Set once evicted: resolves the drain when inFlight reaches zero. */
  idle?: () => void;
}

export interface PoolMapStats {
  openPools: number;
  drainingPools: number;
  connectionsAtMost: number;
  hits: number;
  misses: number;
  evictions: number;
  opensInFlight: number;
}

export class PoolMap {
  /** Open pools, least recently used first (a Map keeps insertion order; a hit re-inserts). */
  private readonly entries = new Map<string, Entry>();
  /** The entry last put at the back of `entries` (it may have been evicted since). */
  private newest: Entry | undefined;
  /**
   * Single flight: concurrent first requests for one company share one open. `claims` counts the
   * callers waiting on it, so the new pool starts with them in flight and cannot be ended by an
   * eviction before they resume.
   */
  private readonly opening = new Map<string, { entry: Promise<Entry>; claims: number }>();
  /** Pools being ended, per server: they still hold connections. */
  private readonly draining = new Map<string, Set<Promise<void>>>();
  /** Slots lent without a pool (withSlot()), per server: each settles when its work is done. */
  private readonly lent = new Map<string, Set<Promise<unknown>>>();
  private hits = 0;
  private misses = 0;
  private evictions = 0;
  private closed = false;

  constructor(
    private readonly options: PoolMapOptions,
    private readonly openers: PoolOpeners,
  ) {
    if (options.perCompany < 1 || options.maxPools < 1) throw new Error('pool map: perCompany and maxPools must be >= 1');
    if (options.serverBudget < options.perCompany) {
      throw new Error('pool map: the per-server connection budget must hold at least one company pool');
    }
  }

  /** Pools a server may hold at once (open or still draining). */
  get poolsPerServer(): number {
    return Math.floor(this.options.serverBudget / this.options.perCompany);
  }

  /** Whether the company has an open pool (or one opening). */
  isOpen(companyId: string): boolean {
    return this.entries.has(companyId) || this.opening.has(companyId);
  }

  /** Runs `work` with the company's pool; the pool is not ended while work runs. */
  async run<T>(target: TenantTarget, work: (db: TenantDb) => Promise<T>): Promise<T> {
    // An open pool is taken without an await (a warm request's case); acquire() counts this caller
    // in flight when it hands the pool out, not when it resumes.
    const entry = this.takeOpen(target.companyId) ?? (await this.acquire(target));
    try {
      return await work(entry.handle.db);
    } finally {
      entry.inFlight--;
      if (entry.inFlight === 0) entry.idle?.();
    }
  }

  /** The company's open pool, counted as a hit with this caller in flight; undefined if none. */
  private takeOpen(companyId: string): Entry | undefined {
    if (this.closed) return undefined;
    const found = this.entries.get(companyId);
    if (!found) return undefined;
    this.hits++;
    found.inFlight++;
    // Move it to the back of the line, unless it is there already (a run of requests for one
    // company then costs no Map delete and insert each).
    if (found !== this.newest) {
      this.entries.delete(companyId);
      this.entries.set(companyId, found);
      this.newest = found;
    }
    return found;
  }

  private async acquire(target: TenantTarget): Promise<Entry> {
    if (this.closed) throw new Error('pool map is closed');
    const found = this.takeOpen(target.companyId);
    if (found) return found;
    const pending = this.opening.get(target.companyId);
    if (pending) {
      this.hits++;
      pending.claims++;
      return pending.entry;
    }
    this.misses++;
    const opening = { entry: undefined as unknown as Promise<Entry>, claims: 1 };
    opening.entry = this.open(target, opening).finally(() => this.opening.delete(target.companyId));
    this.opening.set(target.companyId, opening);
    return opening.entry;
  }

  private async open(target: TenantTarget, opening: { claims: number }): Promise<Entry> {
    const url = await target.url();
    const openPool = await this.openers(target.driver ?? 'postgres');
    // Check for room and insert with no await in between, so that concurrent opens on one server
    // cannot both take the last slot.
    for (let wait = this.makeRoom(target.serverId); wait; wait = this.makeRoom(target.serverId)) await wait;
    const handle = openPool(url, {
      max: this.options.perCompany,
      idleTimeoutSeconds: this.options.idleTimeoutSeconds,
      connectTimeoutSeconds: this.options.connectTimeoutSeconds,
      ...(target.login ? { login: target.login } : {}),
    });
    const entry: Entry = { companyId: target.companyId, serverId: target.serverId, handle, inFlight: opening.claims };
    this.entries.set(target.companyId, entry);
    this.newest = entry;
    return entry;
  }

  /**
   * Runs `work` holding one pool's slot of a server's budget, without a pool: for a connection the
   * caller opens and closes itself (the fleet query's one-run connections). It waits for room as
   * opening a pool does, evicting the least recently used pool when the server is full, and counts
   * as a whole pool (perCompany connections) until `work` settles.
   */
  async withSlot<T>(serverId: string, work: () => Promise<T>): Promise<T> {
    if (this.closed) throw new Error('pool map is closed');
    for (let wait = this.makeRoom(serverId); wait; wait = this.makeRoom(serverId)) await wait;
    let set = this.lent.get(serverId);
    if (!set) {
      set = new Set();
      this.lent.set(serverId, set);
    }
    const running = work();
    const settled = running.then(
      () => {},
      () => {},
    );
    set.add(settled);
    try {
      return await running;
    } finally {
      set.delete(settled);
      if (set.size === 0 && this.lent.get(serverId) === set) this.lent.delete(serverId);
    }
  }

  private slotsUsed(serverId: string): number {
    let used = (this.draining.get(serverId)?.size ?? 0) + (this.lent.get(serverId)?.size ?? 0);
    for (const entry of this.entries.values()) if (entry.serverId === serverId) used++;
    return used;
  }

  /**
   * Makes room for one more pool on a server: null when there is room now, else a promise to
   * wait on before asking again (an evicted pool still holds its connections until it has ended).
   */
  private makeRoom(serverId: string): Promise<unknown> | null {
    while (this.entries.size >= this.options.maxPools) this.evictLeastRecent();
    if (this.slotsUsed(serverId) < this.poolsPerServer) return null;
    // A pool already draining on this server frees a slot soon: wait for it rather than evict more.
    if ((this.draining.get(serverId)?.size ?? 0) === 0) this.evictLeastRecent(serverId);
    // So does a lent slot (withSlot()): its work is bounded by a statement timeout.
    const freeing = [...(this.draining.get(serverId) ?? []), ...(this.lent.get(serverId) ?? [])];
    return freeing.length > 0 ? Promise.race(freeing) : null;
  }

  /** Ends the least recently used pool (on `serverId`, when given). False when there is none. */
  private evictLeastRecent(serverId?: string): boolean {
    for (const entry of this.entries.values()) {
      if (serverId && entry.serverId !== serverId) continue;
      this.evict(entry.companyId);
      return true;
    }
    return false;
  }

  /**
   * Drops a company's pool at once (suspended, deleted, moved, or to make room): no new work gets
   * it, while work already running on it finishes, however many queries it still has to make.
   * Only then is the pool ended; until it has ended it counts against its server's budget.
   */
  evict(companyId: string): void {
    const entry = this.entries.get(companyId);
    if (!entry) return;
    this.entries.delete(companyId);
    this.evictions++;
    let set = this.draining.get(entry.serverId);
    if (!set) {
      set = new Set();
      this.draining.set(entry.serverId, set);
    }
    const drainSeconds = this.options.drainTimeoutSeconds ?? 30;
    const idle = new Promise<void>((resolve) => {
      entry.idle = resolve;
      if (entry.inFlight === 0) resolve();
      // Work that never finishes cannot hold the slot for ever.
      setTimeout(resolve, drainSeconds * 1000).unref();
    });
    const ended: Promise<void> = idle
      .then(() => entry.handle.end())
      .catch(() => {})
      .finally(() => {
        set.delete(ended);
        // Neon and external companies each have a budget key of their own: forget emptied ones.
        if (set.size === 0 && this.draining.get(entry.serverId) === set) this.draining.delete(entry.serverId);
      });
    set.add(ended);
  }

  stats(): PoolMapStats {
    let drainingPools = 0;
    for (const set of this.draining.values()) drainingPools += set.size;
    return {
      openPools: this.entries.size,
      drainingPools,
      // postgres.js does not expose how many connections a pool has open; this is the most the
      // open and draining pools may hold, which is what the budget bounds.
      connectionsAtMost: (this.entries.size + drainingPools) * this.options.perCompany,
      hits: this.hits,
      misses: this.misses,
      evictions: this.evictions,
      opensInFlight: this.opening.size,
    };
  }

  /** Ends every pool (graceful shutdown). */
  async close(): Promise<void> {
    this.closed = true;
    await Promise.allSettled([...this.opening.values()].map((o) => o.entry));
    for (const companyId of [...this.entries.keys()]) this.evict(companyId);
    await Promise.all([...this.draining.values()].flatMap((set) => [...set]));
  }
}
