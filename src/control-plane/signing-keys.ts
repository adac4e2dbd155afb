// The keys access tokens are signed with (docs/security.md, "Signing keys"). The configured secret
// (SILO_JWT_SECRET or the data dir's file) is the first key; `silo secrets rotate-jwt-key` adds a
// random one to the management database, sealed with the master key. The newest key signs; a key
// that a newer one superseded still verifies for SILO_TOKEN_TTL, so the tokens it signed live out
// their lifetime, and then no longer. Every instance reads the same rows, and reloads them when a
// rotation is published with NOTIFY (or, once, when a token names a key it does not know).
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { asc, sql as drizzleSql } from 'drizzle-orm';
import type { Sql } from 'postgres';
import type { ManagementDb } from './db.ts';
import { jwtSigningKeys } from './schema.ts';
import type { CredentialBox } from '../base/crypto/credentials.ts';
import { sealedAt } from '../base/crypto/credentials.ts';
import { inTransaction } from '../base/db/transaction.ts';
import type { Logger } from '../base/logger.ts';
import { type KeyRing, kidPattern, type SigningKey } from '../base/auth/tokens.ts';

export const JWT_KEYS_CHANGED_CHANNEL = 'silo_jwt_keys_changed';

/** A burst of tokens with made-up kids reloads the keys at most this often. */
const UNKNOWN_KID_RELOAD_MS = 1000;

/**
 * The configured secret's kid: a hash of it, so every instance with the same secret computes the
 * same one. (A hash of 32+ random bytes tells nothing about them.)
 */
export function configuredKid(secret: Uint8Array): string {
  return createHash('sha256').update('silo-jwt-kid\0').update(secret).digest('base64url').slice(0, 22);
}

interface KeyEntry {
  kid: string;
  /** undefined once retired (its sealed value wiped). */
  secret: Uint8Array | undefined;
  /** When the next key was added (ms); Infinity for the newest. */
  supersededAtMs: number;
}

interface KeySet {
  byKid: Map<string, KeyEntry>;
  newest: SigningKey;
}

export interface SigningKeysDeps {
  db: ManagementDb;
  sql: Sql;
  box: CredentialBox;
  log: Logger;
}

export class SigningKeys implements KeyRing {
  private readonly configured: SigningKey;
  private set: KeySet | undefined;
  /** Set by a published rotation: the next use reloads. */
  private stale = true;
  private loading: Promise<KeySet> | undefined;
  private listening: Promise<unknown> | undefined;
  private lastUnknownReloadMs = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly deps: SigningKeysDeps,
    secret: Uint8Array,
    private readonly ttlSeconds: number,
  ) {
    if (secret.length < 32) throw new Error('the token secret must be at least 32 bytes');
    this.configured = { kid: configuredKid(secret), secret };
  }

  async signing(): Promise<SigningKey> {
    return (await this.current()).newest;
  }

  async verifying(kid: string | undefined): Promise<Uint8Array | undefined> {
    // A token without kid was issued before keys had ids: the configured secret signed it.
    const wanted = kid ?? this.configured.kid;
    let entry = (await this.current()).byKid.get(wanted);
    if (!entry && Date.now() - this.lastUnknownReloadMs >= UNKNOWN_KID_RELOAD_MS) {
      // Perhaps a key added by a rotation whose NOTIFY this instance missed (it was reconnecting).
      this.lastUnknownReloadMs = Date.now();
      // A read already under way may have started before the key was added: read after it.
      await this.loading?.catch(() => {});
      this.stale = true;
      entry = (await this.current()).byKid.get(wanted);
    }
    if (!entry?.secret || entry.supersededAtMs + this.ttlSeconds * 1000 <= Date.now()) return undefined;
    return entry.secret;
  }

  private async current(): Promise<KeySet> {
    if (this.set && !this.stale) return this.set;
    this.loading ??= this.load().finally(() => {
      this.loading = undefined;
    });
    try {
      return await this.loading;
    } catch (error) {
      // The management database is out of reach: the keys known so far still serve.
      if (!this.set) throw error;
      this.deps.log.warn({ error: (error as Error).message }, 'could not reload the JWT signing keys; using those loaded before');
      return this.set;
    }
  }

  private async load(): Promise<KeySet> {
    // Subscribe before reading, so no rotation can slip between the two. postgres.js subscribes
    // again after its listening connection was lost, and calls the third function then: a
    // rotation published meanwhile was missed, so the keys are read again.
    this.listening ??= this.deps.sql
      .listen(
        JWT_KEYS_CHANGED_CHANNEL,
        (kid) => {
          if (kidPattern.test(kid)) this.stale = true;
        },
        () => {
          this.stale = true;
        },
      )
      .catch((error: Error) => {
        this.listening = undefined;
        throw error;
      });
    await this.listening;
    // Cleared before the read: a rotation published while it runs marks the set stale again.
    this.stale = false;
    try {
      const rows = await this.deps.db.select().from(jwtSigningKeys).orderBy(asc(jwtSigningKeys.createdAt), asc(jwtSigningKeys.id));
      this.set = this.build(rows);
      return this.set;
    } catch (error) {
      this.stale = true;
      throw error;
    }
  }

  private build(rows: (typeof jwtSigningKeys.$inferSelect)[]): KeySet {
    const byKid = new Map<string, KeyEntry>();
    // The configured key comes before every stored one.
    const first = rows[0]?.createdAt.getTime() ?? Number.POSITIVE_INFINITY;
    byKid.set(this.configured.kid, { ...this.configured, supersededAtMs: first });
    let newest = this.configured;
    rows.forEach((row, i) => {
      const secret = row.keyEncrypted
        ? Buffer.from(this.deps.box.open(row.keyEncrypted, sealedAt.jwtSigningKey(row.id)), 'base64url')
        : undefined;
      byKid.set(row.kid, { kid: row.kid, secret, supersededAtMs: rows[i + 1]?.createdAt.getTime() ?? Number.POSITIVE_INFINITY });
      if (secret) newest = { kid: row.kid, secret };
    });
    return { byKid, newest };
  }
}

/**
 * `silo secrets rotate-jwt-key`: adds a random key, which every instance signs with from the
 * notification on; wipes keys whose tokens have all expired (superseded more than `ttlSeconds`
 * ago). Returns the new key's kid, never the key.
 */
export async function rotateJwtKey(deps: { db: ManagementDb; box: CredentialBox }, ttlSeconds: number): Promise<{ kid: string }> {
  const id = randomUUID();
  const kid = randomBytes(16).toString('base64url');
  const sealed = deps.box.seal(randomBytes(48).toString('base64url'), sealedAt.jwtSigningKey(id));
  await inTransaction(deps.db, async (tx) => {
    await tx.insert(jwtSigningKeys).values({ id, kid, keyEncrypted: sealed });
    await tx.execute(drizzleSql`
      update jwt_signing_keys k set key_encrypted = null
      from (select id, lead(created_at) over (order by created_at, id) as superseded_at from jwt_signing_keys) s
      where k.id = s.id and k.key_encrypted is not null and s.superseded_at < now() - make_interval(secs => ${ttlSeconds})`);
    // Delivered at commit, to every instance listening (this one included).
    await tx.execute(drizzleSql`select pg_notify(${JWT_KEYS_CHANGED_CHANNEL}, ${kid})`);
  });
  return { kid };
}
