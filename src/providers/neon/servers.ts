// The Neon API client for a registered neon server, with its key decrypted only here.
import { eq } from 'drizzle-orm';
import type { SiloContext } from '../../context.ts';
import { databaseServers } from '../../control-plane/schema.ts';
import { notFound, SiloError } from '../../base/errors.ts';
import { NeonApi, type NeonSettings } from './api.ts';
import { sealedAt } from '../../base/crypto/credentials.ts';

export async function neonServer(ctx: SiloContext, serverId: string): Promise<{ api: NeonApi; settings: NeonSettings }> {
  const [row] = await ctx.db.select().from(databaseServers).where(eq(databaseServers.id, serverId));
  if (!row) throw notFound('database server');
  if (row.provider !== 'neon' || !row.urlEncrypted || !row.apiKeyEncrypted) {
    throw new SiloError('internal', 'the server is not a neon server');
  }
  return {
    api: new NeonApi(
      ctx.box.open(row.urlEncrypted, sealedAt.serverUrl(row.id)),
      ctx.box.open(row.apiKeyEncrypted, sealedAt.serverApiKey(row.id)),
    ),
    settings: row.settings as NeonSettings,
  };
}

/** The name of a company's Neon project: how a project whose id was never recorded is found. */
export function neonProjectName(ctx: SiloContext, slug: string): string {
  return `${ctx.config.dbPrefix}-${slug}`;
}
