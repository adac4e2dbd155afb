// POST /api/sql/ask: SQL for a company admin's question. The company's saved query that matches it
// well (full-text search, src/data-plane/company-plane/saved-matches.ts) answers first; otherwise
// the SQL assistant, when one is configured, is asked with the company's schema and nearest saved
// pairs. With `run`, the SQL runs as any console SQL does: read-only, as the company's role, and
// recorded in the company's history.
import { SiloError } from '../../base/errors.ts';
import type { SiloContext } from '../../context.ts';
import type { CompanyRow } from '../../control-plane/schema.ts';
import { nearestSavedQueries, type SavedMatch } from '../../data-plane/company-plane/saved-matches.ts';
import { describeSchema } from '../../data-plane/company-plane/sql-console.ts';
import type { ReadOnlyResult } from '../../data-plane/read-only-sql.ts';
import type { TenantDb } from '../../data-plane/tenant-db.ts';
import { askSqlAssistant } from '../../providers/sql-assistant/chat-completions.ts';
import { assistantPrompt } from './ask-prompt.ts';
import { runConsoleSql } from './console.ts';

/** Saved pairs given to the assistant as examples. */
const EXAMPLES = 5;

export interface AskInput {
  question: string;
  run?: boolean | undefined;
}

export interface AskAnswer {
  sql: string;
  source: 'saved' | 'assistant';
  savedId?: string;
  result?: ReadOnlyResult;
}

export async function askSql(
  ctx: SiloContext,
  tenant: { company: CompanyRow; db: TenantDb },
  userId: string,
  input: AskInput,
): Promise<AskAnswer> {
  const nearest = await nearestSavedQueries(tenant.db, input.question, EXAMPLES);
  const best = nearest[0];
  const answer: AskAnswer = best?.good
    ? { sql: best.sql, source: 'saved', savedId: best.id }
    : { sql: await fromAssistant(ctx, tenant, input.question, nearest), source: 'assistant' };
  if (!input.run) return answer;
  return { ...answer, result: await runConsoleSql(ctx, tenant, userId, { sql: answer.sql }) };
}

async function fromAssistant(
  ctx: SiloContext,
  tenant: { company: CompanyRow; db: TenantDb },
  question: string,
  examples: SavedMatch[],
): Promise<string> {
  const assistant = ctx.config.sqlAssistant;
  if (!assistant) throw new SiloError('not_found', 'no saved query matches this question, and no SQL assistant is configured');
  const { tables } = await describeSchema(tenant.db);
  const started = performance.now();
  try {
    const sql = await askSqlAssistant(assistant, assistantPrompt(question, tables, examples));
    ctx.log.debug({ companyId: tenant.company.id, ms: Math.round(performance.now() - started) }, 'the SQL assistant answered');
    return sql;
  } catch (error) {
    // The provider's errors are fixed sentences: no key, no URL, nothing of the answer.
    ctx.log.warn(
      { companyId: tenant.company.id, ms: Math.round(performance.now() - started), error: (error as Error).message },
      'the SQL assistant failed',
    );
    throw error;
  }
}
