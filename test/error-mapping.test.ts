// Every error a handler can meet becomes the contract's shape, { error: { code, message, details? } },
// with the right status; the client never sees a driver's or the framework's own words. Run on a
// real Hono app whose routes throw, without a database.
import { OpenAPIHono } from '@hono/zod-openapi';
import { HTTPException } from 'hono/http-exception';
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { SiloError } from '../src/base/errors.ts';
import { createLogger } from '../src/base/logger.ts';
import { toErrorResponse } from '../src/http/errors.ts';

const logLines: string[] = [];
const log = createLogger(
  'info',
  new Writable({
    write(chunk, _encoding, done) {
      logLines.push(String(chunk));
      done();
    },
  }),
);

/** An app with one route that throws `error`, and the app's error mapping. */
async function answerTo(error: unknown) {
  const app = new OpenAPIHono();
  app.get('/x', () => {
    throw error;
  });
  app.onError((err, c) => toErrorResponse(err, c, log));
  const res = await app.request('/x');
  return { status: res.status, body: await res.json(), retryAfter: res.headers.get('retry-after') };
}

const withCode = (message: string, code: string) => Object.assign(new Error(message), { code });

describe('error mapping', () => {
  it("answers a SiloError with its code's status, message and details", async () => {
    expect(await answerTo(new SiloError('conflict', 'the slug is taken', { slug: 'acme' }))).toEqual({
      status: 409,
      body: { error: { code: 'conflict', message: 'the slug is taken', details: { slug: 'acme' } } },
      retryAfter: null,
    });
    expect((await answerTo(new SiloError('not_found', 'company not found'))).body).toEqual({
      error: { code: 'not_found', message: 'company not found' },
    });
  });

  it('sets Retry-After for rate_limited and unavailable', async () => {
    const limited = await answerTo(new SiloError('rate_limited', 'too many', { retryAfterSeconds: 7 }));
    expect([limited.status, limited.retryAfter]).toEqual([429, '7']);
    const busy = await answerTo(new SiloError('unavailable', 'later', { retryAfterSeconds: 2 }));
    expect([busy.status, busy.retryAfter]).toEqual([503, '2']);
  });

  it("maps the framework's HTTP errors to the contract's codes, in its own words", async () => {
    const unsupported = await answerTo(new HTTPException(415, { message: 'framework detail' }));
    expect(unsupported.status).toBe(415);
    expect(unsupported.body.error.code).toBe('unsupported_media_type');
    expect(unsupported.body.error.message).not.toContain('framework detail');
    const crashed = await answerTo(new HTTPException(500, { message: 'framework internals' }));
    expect(crashed).toMatchObject({ status: 500, body: { error: { code: 'internal', message: 'internal error' } } });
  });

  it('answers text Postgres cannot store with 400, and a refused tenant login with 503 and Retry-After', async () => {
    expect(await answerTo(withCode('invalid byte sequence for encoding "UTF8": 0x00', '22021'))).toMatchObject({
      status: 400,
      body: { error: { code: 'validation_failed' } },
    });
    expect(await answerTo(withCode('password authentication failed for user "t_acme"', '28P01'))).toMatchObject({
      status: 503,
      body: { error: { code: 'unavailable' } },
      retryAfter: '1',
    });
  });

  it('answers an unreachable database with 503, and anything unexpected with a bare 500 that leaks nothing', async () => {
    const unreachable = await answerTo(withCode('connect ECONNREFUSED 10.0.0.5:5432', 'ECONNREFUSED'));
    expect(unreachable).toMatchObject({ status: 503, body: { error: { code: 'unavailable' } } });
    expect(JSON.stringify(unreachable.body)).not.toContain('10.0.0.5');

    const unexpected = await answerTo(new Error('select * from "documents" where "owner" = $1 -- internal detail'));
    expect(unexpected).toEqual({ status: 500, body: { error: { code: 'internal', message: 'internal error' } }, retryAfter: null });
    // The log has what happened, for the operator.
    expect(logLines.some((line) => line.includes('unhandled error'))).toBe(true);
  });
});
