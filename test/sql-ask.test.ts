// POST /api/sql/ask against a local stand-in of an OpenAI-compatible assistant that records what it
// was sent: a saved query that matches well answers without asking; otherwise the assistant is
// asked with the company's own tables and saved pairs and nothing of any other company's; `run`
// goes through the read-only executor (a write is refused by PostgreSQL); with neither a match
// nor an assistant, 404; a failing, slow or unreachable assistant, 503 with a fixed sentence and
// never the key; and 16 admins of four companies asking at once each get their own company's SQL.
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ASSISTANT_NO_SQL, ASSISTANT_UNREACHABLE } from '../src/providers/sql-assistant/chat-completions.ts';
import { createApp } from '../src/http/app.ts';
import { type AssistantRequest, type AssistantStandIn, completion, startAssistantStandIn } from './support/sql-assistant-stand-in.ts';
import { createTestSilo, type TestSilo } from './support/test-silo.ts';

const KEY = 'sk-stand-in-key-that-must-stay-secret';
const MODEL = 'stand-in-model';
const TIMEOUT_MS = 1_500;
const SLUGS = ['ask-a', 'ask-b', 'ask-c', 'ask-d'];
/** Each company's own table, and a word only its saved pairs hold. */
const tableOf = (slug: string) => `widgets_${slug.slice(-1)}`;
const markerOf = (slug: string) => `colour-of-${slug}`;

let t: TestSilo;
let standIn: AssistantStandIn;
const tokens: Record<string, string> = {};
const savedIds: Record<string, string> = {};

const ask = (slug: string, body: Record<string, unknown>) => t.call('POST', '/api/sql/ask', { token: tokens[slug]!, body });
const prompt = (request: AssistantRequest) => request.body.messages.map((m) => m.content).join('\n');

beforeAll(async () => {
  standIn = await startAssistantStandIn();
  t = await createTestSilo({
    env: {
      SILO_SQL_ASSISTANT_URL: standIn.url,
      SILO_SQL_ASSISTANT_KEY: KEY,
      SILO_SQL_ASSISTANT_MODEL: MODEL,
      SILO_SQL_ASSISTANT_TIMEOUT_MS: String(TIMEOUT_MS),
    },
  });
  for (const slug of SLUGS) {
    const admin = { email: `admin@${slug}.test`, password: 'admin-password' };
    const created = await t.call('POST', '/api/companies', { token: t.adminToken, body: { name: slug, slug, admin } });
    expect(created.status).toBe(201);
    const login = await t.call('POST', '/api/auth/login', { token: null, body: { ...admin, company: slug } });
    tokens[slug] = login.body.token;
    const company = await t.ctx.tenants.company(created.body.id);
    // A table of the company's own, made as its role, with three widgets.
    await t.ctx.tenants.run(company!, async (db) => {
      await db.execute(sql.raw(`create table ${tableOf(slug)} (name text not null, colour text not null)`));
      await db.execute(sql.raw(`insert into ${tableOf(slug)} values ('a', 'red'), ('b', 'blue'), ('c', 'blue')`));
    });
    const saved = await t.call('POST', '/api/sql/saved', {
      token: tokens[slug]!,
      body: { question: 'How many widgets do we have?', sql: `select count(*)::int as n from ${tableOf(slug)}` },
    });
    expect(saved.status).toBe(201);
    savedIds[slug] = saved.body.id;
    await t.call('POST', '/api/sql/saved', {
      token: tokens[slug]!,
      body: { question: 'Which widgets are blue?', sql: `select name from ${tableOf(slug)} where colour = '${markerOf(slug)}'` },
    });
  }
});

beforeEach(() => {
  standIn.requests.length = 0;
  standIn.answer = () => ({ body: completion('```sql\nselect 1\n```') });
});

afterAll(async () => {
  await t?.close();
  await standIn?.close();
});

describe('POST /api/sql/ask: a saved query', () => {
  it('answers with the saved query that matches well, without asking the assistant', async () => {
    const res = await ask('ask-a', { question: 'how many widgets?' });
    expect(res.status, res.text).toBe(200);
    expect(res.body).toEqual({ sql: 'select count(*)::int as n from widgets_a', source: 'saved', savedId: savedIds['ask-a'] });
    expect(standIn.requests).toHaveLength(0);
  });

  it('runs it read-only with run: true and includes the result', async () => {
    const res = await ask('ask-a', { question: 'How many widgets do we have', run: true });
    expect(res.status, res.text).toBe(200);
    expect(res.body).toMatchObject({ source: 'saved', result: { columns: [{ name: 'n', type: 'integer' }], rows: [[3]], rowCount: 1 } });
  });
});

describe('POST /api/sql/ask: the assistant', () => {
  it("asks with the company's schema and nearest saved pairs only, and answers the SQL out of its fence", async () => {
    standIn.answer = () => ({ body: completion("Here it is:\n```sql\nselect name from widgets_b where colour = 'red';\n```\nEnjoy.") });
    const res = await ask('ask-b', { question: 'list the widgets by colour' });
    expect(res.status, res.text).toBe(200);
    expect(res.body).toEqual({ sql: "select name from widgets_b where colour = 'red'", source: 'assistant' });

    expect(standIn.requests).toHaveLength(1);
    const [request] = standIn.requests as [AssistantRequest];
    expect(request.path).toBe('/v1/chat/completions');
    expect(request.headers.authorization).toBe(`Bearer ${KEY}`);
    expect(request.body.model).toBe(MODEL);
    expect(request.body.messages.at(-1)).toEqual({ role: 'user', content: 'list the widgets by colour' });
    const text = prompt(request);
    expect(text).toContain('public.widgets_b(name text, colour text)');
    expect(text).toContain(markerOf('ask-b'));
    for (const other of SLUGS.filter((s) => s !== 'ask-b')) {
      expect(text).not.toContain(tableOf(other));
      expect(text).not.toContain(markerOf(other));
      expect(text).not.toContain(other);
    }
  });

  it('runs its SQL with run: true', async () => {
    standIn.answer = () => ({ body: completion("```\nselect count(*)::int as blue from widgets_b where colour = 'blue'\n```") });
    const res = await ask('ask-b', { question: 'count the blue widgets please', run: true });
    expect(res.status, res.text).toBe(200);
    expect(res.body).toMatchObject({ source: 'assistant', result: { rows: [[2]] } });
  });

  it("refuses a write it answers by PostgreSQL's read-only transaction (25006), and changes nothing", async () => {
    standIn.answer = () => ({ body: completion('```sql\ndelete from widgets_c\n```') });
    const res = await ask('ask-c', { question: 'remove every widget', run: true });
    expect(res.status).toBe(400);
    expect(res.body.error).toEqual({
      code: 'validation_failed',
      message: 'cannot execute DELETE in a read-only transaction',
      details: { sqlState: '25006' },
    });
    const count = await t.call('POST', '/api/sql', { token: tokens['ask-c']!, body: { sql: 'select count(*)::int from widgets_c' } });
    expect(count.body.rows).toEqual([[3]]);
    // The refused SQL is in the company's history, where the admin can read what was proposed.
    const history = await t.call('GET', '/api/sql/history?limit=5', { token: tokens['ask-c']! });
    expect(history.body.items.map((e: { sql: string }) => e.sql)).toContain('delete from widgets_c');
  });

  it('answers 503 with a fixed sentence when it fails, answers no SQL, or is too slow; never the key', async () => {
    const cases: { answer: () => { status?: number; body: unknown; delayMs?: number }; message: string }[] = [
      { answer: () => ({ status: 500, body: { error: { message: `internal ${KEY}` } } }), message: ASSISTANT_UNREACHABLE },
      { answer: () => ({ status: 401, body: { error: { message: 'bad key' } } }), message: ASSISTANT_NO_SQL },
      { answer: () => ({ body: 'not json' }), message: ASSISTANT_NO_SQL },
      { answer: () => ({ body: completion('```sql\n\n```') }), message: ASSISTANT_NO_SQL },
      { answer: () => ({ body: { choices: [] } }), message: ASSISTANT_NO_SQL },
      { answer: () => ({ body: completion('select 1'), delayMs: TIMEOUT_MS + 2_000 }), message: ASSISTANT_UNREACHABLE },
    ];
    for (const { answer, message } of cases) {
      standIn.answer = answer;
      const res = await ask('ask-d', { question: 'the oldest widget' });
      expect(res.status, res.text).toBe(503);
      expect(res.body.error).toMatchObject({ code: 'unavailable', message });
      expect(res.text).not.toContain(KEY);
      expect(res.text).not.toContain(standIn.url);
    }
    const logs = t.logs.join('');
    expect(logs).toContain('the SQL assistant failed');
    expect(logs).not.toContain(KEY);
    expect(logs).not.toContain(standIn.url);
  });

  it('answers 503 when nothing listens at its URL', async () => {
    const closed = await startAssistantStandIn();
    await closed.close();
    const app = createApp({ ...t.ctx, config: { ...t.ctx.config, sqlAssistant: { ...t.ctx.config.sqlAssistant!, url: closed.url } } });
    const res = await app.request('/api/sql/ask', {
      method: 'POST',
      headers: { authorization: `Bearer ${tokens['ask-d']!}`, 'content-type': 'application/json' },
      body: JSON.stringify({ question: 'the newest widget' }),
    });
    expect(res.status).toBe(503);
    const text = await res.text();
    expect(JSON.parse(text).error).toEqual({ code: 'unavailable', message: ASSISTANT_UNREACHABLE, details: { retryAfterSeconds: 5 } });
    expect(text).not.toContain('127.0.0.1');
  });
});

describe('POST /api/sql/ask: neither', () => {
  it('answers 404 when no saved query matches well and no assistant is configured', async () => {
    const app = createApp({ ...t.ctx, config: { ...t.ctx.config, sqlAssistant: undefined } });
    const askWithout = async (question: string) => {
      const res = await app.request('/api/sql/ask', {
        method: 'POST',
        headers: { authorization: `Bearer ${tokens['ask-a']!}`, 'content-type': 'application/json' },
        body: JSON.stringify({ question }),
      });
      return { status: res.status, body: await res.json() };
    };
    // Shares a word with a saved question, but is not answered by it; only stop words; none at all.
    for (const question of ['widgets sold per day last year', 'what is it?', 'zebra']) {
      const res = await askWithout(question);
      expect(res.status, question).toBe(404);
      expect(res.body.error).toEqual({
        code: 'not_found',
        message: 'no saved query matches this question, and no SQL assistant is configured',
      });
    }
    expect((await askWithout('How many widgets')).status).toBe(200);
    expect(standIn.requests).toHaveLength(0);
  });

  it('is for company admins, and refuses a body without a question', async () => {
    expect((await t.call('POST', '/api/sql/ask', { token: t.adminToken, body: { question: 'x' } })).status).toBe(403);
    expect((await ask('ask-a', {})).status).toBe(400);
    expect((await ask('ask-a', { question: 'widgets', run: 'yes' })).status).toBe(400);
  });
});

describe('POST /api/sql/ask: many at once', () => {
  it("answers 16 admins of four companies at once, each with its own company's SQL and data", async () => {
    // The stand-in answers with the one table it finds in the prompt, slowly, so that asks overlap.
    standIn.answer = (request) => {
      const tables = [...new Set(prompt(request).match(/widgets_[a-d]/g))];
      return {
        body: completion(`\`\`\`sql\nselect '${tables.join(',')}' as seen, count(*)::int as n from ${tables[0]}\n\`\`\``),
        delayMs: 50,
      };
    };
    const asks = Array.from({ length: 16 }, (_, i) => ({ slug: SLUGS[i % 4]!, saved: i % 2 === 0 }));
    const answers = await Promise.all(
      asks.map(({ slug, saved }) => ask(slug, { question: saved ? 'how many widgets' : 'widgets grouped by colour', run: true })),
    );
    for (const [i, { slug, saved }] of asks.entries()) {
      const res = answers[i]!;
      expect(res.status, res.text).toBe(200);
      if (saved) {
        expect(res.body).toMatchObject({ source: 'saved', savedId: savedIds[slug], result: { rows: [[3]] } });
      } else {
        expect(res.body).toMatchObject({ source: 'assistant', result: { rows: [[tableOf(slug), 3]] } });
      }
    }
    expect(standIn.requests).toHaveLength(8);
  });
});
