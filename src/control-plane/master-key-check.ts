// A wrong master key at start. Every credential Silo stores is sealed under SILO_MASTER_KEY (or the
// generated key file); started with a valid but different key, Silo would come up, say it is
// ready, and fail every company login. The first value sealed in the management database, the
// default server's URL (written on the first start, before anything else is sealed), serves as the
// check: if the key cannot open it, the start stops here with one line naming where the key came
// from, never the key.
import { asc, isNotNull } from 'drizzle-orm';
import { ConfigError } from '../base/config/config.ts';
import type { ManagementDb } from './db.ts';
import { databaseServers } from './schema.ts';
import { type CredentialBox, sealedAt } from '../base/crypto/credentials.ts';

/** Throws a ConfigError when `box` cannot open what is already stored; a new installation passes. */
export async function checkMasterKey(db: ManagementDb, box: CredentialBox, source: string): Promise<void> {
  const [first] = await db
    .select({ id: databaseServers.id, urlEncrypted: databaseServers.urlEncrypted })
    .from(databaseServers)
    .where(isNotNull(databaseServers.urlEncrypted))
    .orderBy(asc(databaseServers.createdAt), asc(databaseServers.id))
    .limit(1);
  if (!first?.urlEncrypted) return;
  try {
    box.open(first.urlEncrypted, sealedAt.serverUrl(first.id));
  } catch {
    throw new ConfigError(
      `${source} is not the master key this installation's stored credentials were sealed with: start Silo with the key it was set up with`,
    );
  }
}
