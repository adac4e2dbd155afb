// Where a new tenant database goes: the active server with the most room left (a company moving
// to a server takes its room from the start of the move). Automatic placement chooses among
// postgres and neon servers; an external server takes only companies that bring their own
// database, and such a company goes to an external server (the first one, made when needed). A
// server with placement "manual" takes only companies that name it.
import { sql } from 'drizzle-orm';
import type { SiloContext } from '../../context.ts';
import type { Provider } from '../../control-plane/schema.ts';
import { conflict, invalid } from '../../base/errors.ts';
import { ensureExternalServer } from '../../control-plane/server-records.ts';

export interface Placement {
  serverId: string;
  provider: Provider;
  templateVersion: string | null;
}

export interface Wanted {
  serverId?: string | undefined;
  /** The company brings its own database. */
  external: boolean;
  /** Only servers of this provider (a move goes from one postgres server to another). */
  provider?: Provider;
}

export async function chooseServer(ctx: SiloContext, wanted: Wanted): Promise<Placement> {
  const requested = wanted.serverId ?? (wanted.external ? await ensureExternalServer(ctx) : undefined);
  const rows = await ctx.db.execute<{ id: string; provider: Provider; template_version: string | null; room: number }>(sql`
    select s.id, s.provider, s.template_version,
           s.capacity - (select count(*) from companies c
                          where (c.server_id = s.id or c.moving_to = s.id) and c.status <> 'deleted')::int as room
    from database_servers s
    where s.status = 'active' ${requested ? sql`and s.id = ${requested}` : sql`and s.provider <> 'external' and s.placement = 'automatic'`}
      ${wanted.provider ? sql`and s.provider = ${wanted.provider}` : sql``}
    order by room desc, s.created_at
    limit 1`);
  const best = rows[0];
  if (!best) {
    throw requested
      ? conflict('that database server does not exist or does not take new companies')
      : conflict('no active database server is registered');
  }
  if (wanted.external !== (best.provider === 'external')) {
    throw invalid(
      wanted.external
        ? 'externalDatabaseUrl needs an external server (or no serverId)'
        : 'an external server takes only companies that give externalDatabaseUrl',
      [{ path: wanted.external ? 'serverId' : 'externalDatabaseUrl', message: 'provider mismatch' }],
    );
  }
  if (best.room <= 0) throw conflict('no active database server has room for another company');
  return { serverId: best.id, provider: best.provider, templateVersion: best.template_version };
}
