// Whether a verified token's user may still act. A system admin's token must name a current system
// admin (a forged or planted role claim is not enough), and no token may be older than its user's
// last revocation (logout, password change, `silo admin revoke-tokens`). Both answers come from the
// management database, never from a tenant database (whose owner may be the customer), and are
// cached per user like company users' roles are: for SILO_REGISTRY_TTL_MS, and forgotten at once in
// every instance when a change is published with NOTIFY.
import { eq, lt } from 'drizzle-orm';
import { LRUCache } from 'lru-cache';
import { systemUsers, tokenRevocations } from './schema.ts';
import type { SiloContext } from '../context.ts';
import { SiloError } from '../base/errors.ts';
import type { TokenClaims } from '../base/auth/tokens.ts';
import { staleEntry } from '../base/stale-cache.ts';

export const TOKEN_SUBJECT_CHANGED_CHANNEL = 'silo_token_subject_changed';

const UUID = '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}';
const uuidPattern = new RegExp(`^${UUID}$`, 'i');
/** What a published change may look like; anything else on the channel is ignored. */
const subjectPattern = new RegExp(`^(system|${UUID}):${UUID}$`);

/** `system:<user id>` for a system admin, `<company id>:<user id>` for a company user. */
export const tokenSubject = (user: { sub: string; cid?: string | undefined }) => `${user.cid ?? 'system'}:${user.sub}`.toLowerCase();

interface SubjectState {
  /** Only asked for system subjects. */
  systemAdmin: boolean;
  /** Tokens issued at or before this (ms since the epoch) are revoked; -Infinity when never. */
  revokedAtMs: number;
}

class TokenSubjects {
  private readonly states: LRUCache<string, SubjectState>;
  /** Bumped by every change, so a lookup that raced one does not cache the old answer. */
  private generation = 0;
  private listening: Promise<unknown> | undefined;
  private readonly loading = new Map<string, Promise<SubjectState>>();

  constructor(private readonly ctx: SiloContext) {
    // Stale answers are kept so that they can stand in while the management database cannot be
    // read, for SILO_REGISTRY_STALE_MS, as company rows do (src/data-plane/tenants.ts).
    this.states = new LRUCache({ max: 100_000, ttl: Math.max(1, ctx.config.pools.registryTtlMs), noDeleteOnStaleGet: true });
  }

  /** Throws 401 unless the token's user may still act. */
  async assertCurrent(claims: TokenClaims): Promise<void> {
    const state = await this.state(claims);
    if (claims.role === 'system_admin' && !state.systemAdmin) {
      this.ctx.log.warn({ sub: claims.sub }, 'refused a system_admin token whose user is not a system admin');
      throw new SiloError('unauthorized', 'the user of this token is not a system admin');
    }
    if (claims.iat * 1000 <= state.revokedAtMs) throw new SiloError('unauthorized', 'this token has been revoked');
  }

  private state(claims: TokenClaims): Promise<SubjectState> | SubjectState {
    const key = tokenSubject(claims);
    const cached = this.states.get(key);
    if (cached) return cached;
    // Single flight: a burst of requests with one cold token asks the database once.
    let pending = this.loading.get(key);
    if (!pending) {
      const load = this.load(key, claims).finally(() => {
        if (this.loading.get(key) === load) this.loading.delete(key);
      });
      this.loading.set(key, load);
      pending = load;
    }
    return pending;
  }

  private async load(key: string, claims: TokenClaims): Promise<SubjectState> {
    // Subscribe before the first answer is cached, so no change can slip between the two.
    this.listening ??= this.ctx.sql
      .listen(TOKEN_SUBJECT_CHANGED_CHANNEL, (changed) => {
        if (subjectPattern.test(changed)) this.forget(changed);
      })
      .catch((error: Error) => {
        // Not subscribed: try again on the next request rather than fail every one from now on.
        this.listening = undefined;
        throw error;
      });
    const generation = this.generation;
    const isSystem = claims.cid === undefined && uuidPattern.test(claims.sub);
    const { db } = this.ctx;
    let admins: unknown[];
    let revocations: { revokedAt: Date }[];
    try {
      await this.listening;
      [admins, revocations] = await Promise.all([
        isSystem ? db.select({ id: systemUsers.id }).from(systemUsers).where(eq(systemUsers.id, claims.sub)) : [],
        db.select({ revokedAt: tokenRevocations.revokedAt }).from(tokenRevocations).where(eq(tokenRevocations.subject, key)),
      ]);
    } catch (error) {
      const stale = staleEntry(this.states, key, this.ctx.config.pools.registryStaleMs);
      if (stale) return stale;
      throw error;
    }
    const state = { systemAdmin: admins.length > 0, revokedAtMs: revocations[0]?.revokedAt.getTime() ?? Number.NEGATIVE_INFINITY };
    if (generation === this.generation) this.states.set(key, state);
    return state;
  }

  forget(key: string): void {
    this.generation++;
    this.states.delete(key);
    this.loading.delete(key);
  }
}

const perContext = new WeakMap<SiloContext, TokenSubjects>();

export function tokenSubjects(ctx: SiloContext): TokenSubjects {
  let subjects = perContext.get(ctx);
  if (!subjects) {
    subjects = new TokenSubjects(ctx);
    perContext.set(ctx, subjects);
  }
  return subjects;
}

/**
 * Ends every token of a user issued up to now, in every instance from its next request: a
 * revocation time per user (not a list of token ids), so that one row serves logout, a password
 * change and `silo admin revoke-tokens` alike.
 */
export async function revokeTokens(ctx: SiloContext, user: { sub: string; cid?: string | undefined }): Promise<void> {
  const key = tokenSubject(user);
  const now = new Date();
  await ctx.db
    .insert(tokenRevocations)
    .values({ subject: key, revokedAt: now })
    .onConflictDoUpdate({ target: tokenRevocations.subject, set: { revokedAt: now } });
  // A revocation older than the token lifetime can match no live token.
  await ctx.db.delete(tokenRevocations).where(lt(tokenRevocations.revokedAt, new Date(now.getTime() - ctx.config.tokenTtlSeconds * 1000)));
  tokenSubjects(ctx).forget(key);
  await ctx.sql`select pg_notify(${TOKEN_SUBJECT_CHANGED_CHANNEL}, ${key})`;
}
