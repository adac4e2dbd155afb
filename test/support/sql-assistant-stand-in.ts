// A local stand-in for an OpenAI-compatible chat-completions endpoint, for POST /api/sql/ask's
// tests: it records every request it is sent (path, headers, JSON body) and answers as the test
// says, so a test can read exactly what Silo told the assistant. Never the internet.
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface AssistantRequest {
  path: string;
  headers: IncomingHttpHeaders;
  body: { model: string; messages: { role: string; content: string }[] };
}

/** What the stand-in answers: a status and a body, after an optional delay. */
export interface StandInAnswer {
  status?: number;
  body: unknown;
  delayMs?: number;
}

export interface AssistantStandIn {
  url: string;
  requests: AssistantRequest[];
  /** Decides each answer; by default one ```sql fence holding `select 1`. */
  answer: (request: AssistantRequest) => StandInAnswer;
  close(): Promise<void>;
}

/** A chat-completions answer whose first choice says `content`. */
export const completion = (content: string) => ({
  id: 'chatcmpl-stand-in',
  object: 'chat.completion',
  choices: [{ index: 0, message: { role: 'assistant', content }, finish_reason: 'stop' }],
});

export async function startAssistantStandIn(): Promise<AssistantStandIn> {
  const standIn: AssistantStandIn = {
    url: '',
    requests: [],
    answer: () => ({ body: completion('```sql\nselect 1\n```') }),
    close: async () => {},
  };
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const request: AssistantRequest = { path: req.url ?? '', headers: req.headers, body: JSON.parse(Buffer.concat(chunks).toString()) };
      standIn.requests.push(request);
      const { status = 200, body, delayMs = 0 } = standIn.answer(request);
      setTimeout(() => {
        if (res.destroyed) return;
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(typeof body === 'string' ? body : JSON.stringify(body));
      }, delayMs);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  standIn.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/chat/completions`;
  standIn.close = () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  return standIn;
}
