// What the SQL assistant is told when POST /api/sql/ask asks it: the company's tables and columns
// (as GET /api/sql/schema lists them) and its saved question/SQL pairs nearest to the question.
// Everything in it is read from the company's own database, so nothing of another company can be
// in it. Bounded, so that a company with thousands of tables still sends a request of sane size.
import type { SchemaTable } from '../../data-plane/company-plane/sql-console.ts';
import type { SavedMatch } from '../../data-plane/company-plane/saved-matches.ts';
import type { ChatMessage } from '../../providers/sql-assistant/chat-completions.ts';

/** The most characters of the schema and of each example's SQL put in the prompt. */
const MAX_SCHEMA_CHARS = 30_000;
const MAX_EXAMPLE_SQL_CHARS = 4_000;

const INSTRUCTIONS = [
  'You write one PostgreSQL SELECT statement that answers the question, using only the tables and columns listed.',
  'It runs read-only, as one statement: no writes, no DDL, no second statement.',
  'Answer with the SQL only, in one ```sql fence, and nothing else.',
].join(' ');

/** One line per table: `schema.table(column type, ...)`, until the bound. */
function schemaText(tables: SchemaTable[]): string {
  const lines: string[] = [];
  let length = 0;
  for (const table of tables) {
    const line = `${table.schema}.${table.name}(${table.columns.map((c) => `${c.name} ${c.type}`).join(', ')})`;
    if (length + line.length > MAX_SCHEMA_CHARS) {
      lines.push(`... ${tables.length - lines.length} more tables not listed`);
      break;
    }
    lines.push(line);
    length += line.length + 1;
  }
  return lines.join('\n');
}

export function assistantPrompt(question: string, tables: SchemaTable[], examples: SavedMatch[]): ChatMessage[] {
  const messages: ChatMessage[] = [{ role: 'system', content: `${INSTRUCTIONS}\n\nTables:\n${schemaText(tables)}` }];
  // Earlier questions and their SQL as turns of the conversation: the model follows the pattern.
  for (const example of examples) {
    messages.push({ role: 'user', content: example.question });
    messages.push({ role: 'assistant', content: `\`\`\`sql\n${example.sql.slice(0, MAX_EXAMPLE_SQL_CHARS)}\n\`\`\`` });
  }
  messages.push({ role: 'user', content: question });
  return messages;
}
