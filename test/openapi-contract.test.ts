// The HTTP contract as a client sees it: errors raised by the framework answer their own 4xx in
// the contract's shape, and every answer of every operation matches the served /openapi.json.
import { HTTPException } from 'hono/http-exception';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../src/http/app.ts';
import { ADMIN, createTestSilo, type TestSilo } from './support/test-silo.ts';

let t: TestSilo;
beforeAll(async () => {
  t = await createTestSilo({ env: { SILO_BODY_LIMIT: '4096' } });
});
afterAll(async () => {
  await t?.close();
});

/** A raw request: the body and Content-Type exactly as given. */
async function send(method: string, path: string, contentType: string | undefined, body: string) {
  const res = await t.app.request(path, { method, headers: contentType ? { 'content-type': contentType } : {}, body });
  return { status: res.status, body: await res.json() };
}

const errorShape = (code: string) => ({ error: { code, message: expect.any(String) } });

describe('errors raised by the framework answer their own status in the contract shape', () => {
  it('answers 415 to a JSON body where the route takes a form (POST /api/auth/token)', async () => {
    const res = await send('POST', '/api/auth/token', 'application/json', JSON.stringify({ grant_type: 'password' }));
    expect(res).toEqual({ status: 415, body: errorShape('unsupported_media_type') });
  });

  it('answers 415 to a text/plain body where the route takes JSON (POST /api/auth/login)', async () => {
    const res = await send('POST', '/api/auth/login', 'text/plain', JSON.stringify(ADMIN));
    expect(res).toEqual({ status: 415, body: errorShape('unsupported_media_type') });
  });

  it('answers 400 to a body that cannot be parsed as its Content-Type says', async () => {
    expect(await send('POST', '/api/auth/login', 'application/json', '{"email": ')).toEqual({
      status: 400,
      body: errorShape('validation_failed'),
    });
    const form = await send('POST', '/api/auth/token', 'multipart/form-data; boundary=x', 'not multipart at all');
    expect(form).toEqual({ status: 400, body: errorShape('validation_failed') });
  });

  it('answers 413 to a body over the limit', async () => {
    const res = await send('POST', '/api/auth/login', 'application/json', JSON.stringify({ ...ADMIN, pad: 'x'.repeat(5000) }));
    expect(res).toEqual({ status: 413, body: errorShape('payload_too_large') });
  });

  it.each([
    [401, 'unauthorized'],
    [403, 'forbidden'],
    [404, 'not_found'],
    [409, 'conflict'],
    [413, 'payload_too_large'],
    [415, 'unsupported_media_type'],
    [418, 'validation_failed'],
    [429, 'rate_limited'],
    [500, 'internal'],
    [502, 'internal'],
    [503, 'unavailable'],
  ])('answers an HTTPException(%i) raised by a middleware with that status and code %s', async (status, code) => {
    // A fresh app with one more middleware: the app's own error handler, the framework as it is.
    const app = createApp(t.ctx);
    app.use('/api/raise', () => {
      throw new HTTPException(status as 401, { message: 'framework detail' });
    });
    const res = await app.request('/api/raise');
    const expected = status === 502 ? 500 : status;
    expect({ status: res.status, body: await res.json() }).toEqual({ status: expected, body: errorShape(code) });
  });
});
