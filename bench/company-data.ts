// A company's data for the benchmarks that carry it around (move, backup): documents with
// full-text search, chat history and users, as the company's own users would have written them.
import type { SiloContext } from '../src/context.ts';

const WORDS = (
  'account agenda answer archive budget calendar customer contract delivery design document draft estimate ' +
  'feature forecast invoice issue launch meeting memo milestone note offer order payment plan policy price ' +
  'product project proposal quarter question receipt release report request review revenue risk roadmap ' +
  'sales schedule service shipment sprint status summary supplier support task team ticket timeline update ' +
  'vendor warehouse weekly workflow alpha beta gamma delta north south east west green blue red amber quick ' +
  'slow steady early late final open closed pending approved rejected urgent minor major critical'
).split(' ');

/** Fills the company's tables as its own users would have, in batches, until about `mb` MB of row text. */
export async function fill(ctx: SiloContext, serverId: string, database: string, mb: number): Promise<void> {
  const sql = await ctx.servers.open(serverId, database);
  try {
    await sql`
      insert into users (email, name, role, password_hash)
      select 'user' || i || '@bench.example', 'User ' || i, 'member', (select password_hash from users limit 1)
      from generate_series(1, 2000) i`;
    await sql`insert into chat_sessions (user_id, title) select id, 'Session of ' || name from users`;
    // Documents take about 80% of the text, chat messages the rest.
    const documents = Math.ceil((mb * 0.8 * 1e6) / 2100);
    const messages = Math.ceil((mb * 0.2 * 1e6) / 200);
    const batch = 5000;
    for (let done = 0; done < documents; done += batch) {
      await sql`
        with authors as (select array_agg(id order by id) as ids from users)
        insert into documents (title, content, tags, metadata, created_by)
        select 'Document ' || i,
               array_to_string(array(select (${WORDS}::text[])[1 + floor(random() * ${WORDS.length})::int]
                                     from generate_series(1, 220 + i % 60)), ' '),
               array['q' || (i % 4 + 1), 'team' || (i % 12)], jsonb_build_object('n', i, 'words', 220 + i % 60),
               authors.ids[1 + i % array_length(authors.ids, 1)]
        from generate_series(${done + 1}::int, ${Math.min(done + batch, documents)}::int) i, authors`;
      process.stderr.write(`  documents ${Math.min(done + batch, documents)}/${documents}\r`);
    }
    for (let done = 0; done < messages; done += batch * 4) {
      await sql`
        with sessions as (select array_agg(id order by id) as ids from chat_sessions)
        insert into chat_messages (session_id, role, content)
        select sessions.ids[1 + i % array_length(sessions.ids, 1)], (array['user', 'assistant', 'system'])[1 + i % 3],
               'message ' || i || ': ' || array_to_string(array(select (${WORDS}::text[])[1 + floor(random() * ${WORDS.length})::int]
                                                             from generate_series(1, 20 + i % 10)), ' ')
        from generate_series(${done + 1}::int, ${Math.min(done + batch * 4, messages)}::int) i, sessions`;
      process.stderr.write(`  chat messages ${Math.min(done + batch * 4, messages)}/${messages}   \r`);
    }
    process.stderr.write('\n');
    await sql`vacuum analyze`;
  } finally {
    await sql.end({ timeout: 5 });
  }
}
