// Errors on a console page: the same mapping as the API's (src/http/errors.ts decides the status,
// what is logged and what a user may read), shown as a sentence on the page rather than JSON.
import type { Context } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import type { Logger } from '../../base/logger.ts';
import { toErrorResponse } from '../errors.ts';
import { Page, type Section } from './layout.tsx';
import type { ConsoleEnv } from './env.ts';

export interface Explained {
  status: ContentfulStatusCode;
  message: string;
}

const sentence = (text: string) => {
  const trimmed = text.trim();
  const capital = trimmed.charAt(0).toUpperCase() + trimmed.slice(1);
  return /[.!?]$/.test(capital) ? capital : `${capital}.`;
};

/** What the API would answer for this error, as a status and a readable sentence. */
export async function explain(error: unknown, c: Context, log: Logger): Promise<Explained> {
  const answer = toErrorResponse(error, c, log);
  const { error: body } = (await answer.json()) as { error: { message: string; details?: unknown } };
  const fields = Array.isArray(body.details)
    ? (body.details as { path?: string; message?: string }[])
        .filter((d) => d.message)
        .map((d) => `${d.path ? `${d.path.replace(/^(json|form|query|param)\./, '')}: ` : ''}${d.message}`)
    : [];
  const message = sentence(body.message) + (fields.length > 0 ? ` ${fields.map(sentence).join(' ')}` : '');
  return { status: answer.status as ContentfulStatusCode, message };
}

/** The console's error handler: a whole page that says what went wrong, never a stack. */
export async function errorPage(error: unknown, c: Context<ConsoleEnv>, log: Logger, section: Section = 'fleet') {
  const { status, message } = await explain(error, c, log);
  const adminEmail = c.get('adminEmail');
  return c.html(
    <Page title={status === 404 ? 'Not found' : 'Something went wrong'} section={section} adminEmail={adminEmail} error={message}>
      <p>
        <a href="/console">Back to the fleet</a>
      </p>
    </Page>,
    status,
  );
}
