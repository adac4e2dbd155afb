// Where a new tenant database goes: the active server with the most room left (a company moving
// to a server takes its room from the start of the move).
import { sql } from 'drizzle-orm';
import type { SiloContext } from '../context.ts';
import { conflict } from '../errors.ts';

export interface Placement {
  serverId: string;
  templateVersion: string | null;
}

export async function chooseServer(ctx: SiloContext, requested?: string): Promise<Placement> {
  const rows = await ctx.db.execute<{ id: string; template_version: string | null; room: number }>(sql`
    select s.id, s.template_version,
           s.capacity - (select count(*) from companies c
                          where (c.server_id = s.id or c.moving_to = s.id) and c.status <> 'deleted')::int as room
    from database_servers s
    where s.status = 'active' ${requested ? sql`and s.id = ${requested}` : sql``}
    order by room desc, s.created_at
    limit 1`);
  const best = rows[0];
  if (!best) {
    throw requested
      ? conflict('that database server does not exist or does not take new companies')
      : conflict('no active database server is registered');
  }
  if (best.room <= 0) throw conflict('no active database server has room for another company');
  return { serverId: best.id, templateVersion: best.template_version };
}
