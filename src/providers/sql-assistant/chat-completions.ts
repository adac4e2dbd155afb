// The SQL assistant: an OpenAI-compatible chat-completions endpoint (SILO_SQL_ASSISTANT_URL) that
// POST /api/sql/ask asks for SQL when no saved query answers a question (docs/querying.md). One
// POST of { model, messages } with the key as a Bearer token, under a timeout; the answer's first
// choice is the SQL, out of its ``` fence when it has one.
//
// The key is a secret and the URL may name a private host: neither is ever put in an error, a log
// line or an answer. Every failure is one of two fixed sentences (503): unreachable, or an answer
// that holds no SQL.
import type { SqlAssistantConfig } from '../../base/config/config.ts';
import { SiloError } from '../../base/errors.ts';

export interface ChatMessage {
  role: 'system' | 'user' | 'assistant';
  content: string;
}

/** The most of an answer read: SQL longer than the console takes is not SQL to run. */
const MAX_ANSWER_BYTES = 1024 * 1024;
/** The console's own bound on SQL text. */
const MAX_SQL_CHARS = 100_000;

export const ASSISTANT_UNREACHABLE = 'the SQL assistant could not be reached or did not answer in time';
export const ASSISTANT_NO_SQL = 'the SQL assistant did not answer with SQL';

const unreachable = () => new SiloError('unavailable', ASSISTANT_UNREACHABLE, { retryAfterSeconds: 5 });
const noSql = () => new SiloError('unavailable', ASSISTANT_NO_SQL);

/** Asks the assistant; resolves to the SQL of its answer. */
export async function askSqlAssistant(config: SqlAssistantConfig, messages: ChatMessage[]): Promise<string> {
  let response: Response;
  let body: string;
  try {
    response = await fetch(config.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${config.key}` },
      body: JSON.stringify({ model: config.model, messages, temperature: 0 }),
      signal: AbortSignal.timeout(config.timeoutMs),
      redirect: 'error',
    });
    body = await readLimited(response, MAX_ANSWER_BYTES);
  } catch {
    // fetch's errors name the URL (and undici's its host and port): none of it is passed on.
    throw unreachable();
  }
  if (response.status === 429 || response.status >= 500) throw unreachable();
  if (!response.ok) throw noSql();
  return sqlOfAnswer(body);
}

/** The body as text, refused past `limit` bytes. */
async function readLimited(response: Response, limit: number): Promise<string> {
  const declared = Number(response.headers.get('content-length') ?? 0);
  if (declared > limit) throw new Error('answer too large');
  const bytes = await response.arrayBuffer();
  if (bytes.byteLength > limit) throw new Error('answer too large');
  return new TextDecoder().decode(bytes);
}

/** The SQL in a chat-completions answer: the first choice's content, out of its first ``` fence. */
export function sqlOfAnswer(body: string): string {
  let content: unknown;
  try {
    content = (JSON.parse(body) as { choices?: { message?: { content?: unknown } }[] }).choices?.[0]?.message?.content;
  } catch {
    throw noSql();
  }
  if (typeof content !== 'string') throw noSql();
  const fenced = /```[A-Za-z]*[^\S\n]*\n?([\s\S]*?)```/.exec(content);
  const sql = (fenced ? fenced[1]! : content).trim().replace(/;\s*$/, '').trim();
  if (sql.length === 0 || sql.length > MAX_SQL_CHARS) throw noSql();
  return sql;
}
