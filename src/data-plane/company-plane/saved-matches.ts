// The company's saved queries nearest to a question, by PostgreSQL full-text search over the saved
// questions (the GIN-indexed `search` column of saved_queries), for POST /api/sql/ask: the best one
// answers the question when it matches well; otherwise the nearest are the examples given to the
// SQL assistant. They are read from the company's own database, so no other company's can appear.
import { sql } from 'drizzle-orm';
import type { TenantDb } from '../tenant-db.ts';
import { rowsOf } from '../tenant-db.ts';

export interface SavedMatch {
  id: string;
  question: string;
  sql: string;
  /** ts_rank of the saved question against any word of the asked one. */
  rank: number;
  /**
   * It matches well: every word of the question (English stems, stop words left out) is in the
   * saved question, and they make at least half of the saved question's words. So "how many
   * documents?" matches "How many documents do we have?", while "documents" alone does not match
   * "documents created by each user last week", nor does "documents per user" match "documents".
   */
  good: boolean;
}

/**
 * Saved queries sharing at least one word with `question`, good matches first, then by rank; at
 * most `limit`. None when the question has no words a search can use (only stop words).
 */
export async function nearestSavedQueries(db: TenantDb, question: string, limit: number): Promise<SavedMatch[]> {
  // plainto_tsquery() joins the question's stems with & (all of them); with | instead, any of them
  // finds a candidate through the index. Its text form quotes each stem, and the English parser
  // makes no stem with a space in it, so replacing ' & ' touches the operators only.
  const rows = rowsOf<{ id: string; question: string; sql: string; rank: number; good: boolean }>(
    await db.execute(sql`
      with asked as (
        select tsvector_to_array(to_tsvector('english', ${question})) as words,
               replace(plainto_tsquery('english', ${question})::text, ' & ', ' | ')::tsquery as any_word
      ), scored as (
        select s.id, s.question, s.sql, s.created_at, ts_rank(s.search, asked.any_word)::float8 as rank,
               (select count(*) from unnest(tsvector_to_array(s.search)) w where w = any(asked.words))::int as shared,
               cardinality(tsvector_to_array(s.search)) as saved_words,
               cardinality(asked.words) as asked_words
        from saved_queries s, asked
        where numnode(asked.any_word) > 0 and s.search @@ asked.any_word
      )
      select id, question, sql, rank, (shared = asked_words and shared * 2 >= saved_words) as good
      from scored
      order by good desc, rank desc, created_at desc, id
      limit ${limit}`),
  );
  return rows.map((row) => ({ id: row.id, question: row.question, sql: row.sql, rank: Number(row.rank), good: row.good }));
}
