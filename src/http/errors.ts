// Turning every error into API.md's shape: { error: { code, message, details? } }. Clients get
// the code and a message written for them; the log gets the detail. Nothing else leaks.
import type { Context } from 'hono';
import { HTTPException } from 'hono/http-exception';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { driverError, errorStatus, isConnectionError, pgCode, SiloError, type ErrorCode } from '../errors.ts';
import type { Logger } from '../logger.ts';

const codeForStatus: Partial<Record<number, ErrorCode>> = {
  400: 'validation_failed',
  401: 'unauthorized',
  403: 'forbidden',
  404: 'not_found',
  409: 'conflict',
  413: 'payload_too_large',
  429: 'rate_limited',
  503: 'unavailable',
};

export function errorBody(code: ErrorCode, message: string, details?: unknown) {
  return { error: { code, message, ...(details === undefined ? {} : { details }) } };
}

export function toErrorResponse(error: unknown, c: Context, log: Logger): Response {
  let silo: SiloError;
  if (error instanceof SiloError) {
    silo = error;
  } else if (error instanceof HTTPException) {
    const code = codeForStatus[error.status] ?? 'internal';
    const message = error.status === 400 ? 'the request body is not valid JSON' : error.message || code;
    silo = new SiloError(code, message);
  } else if (['22021', '22P05', '22001'].includes(pgCode(error) ?? '')) {
    // Text Postgres cannot store (a NUL, a bad escape, too long for its column): the client's
    // input, which a schema should have refused; a safety net so it is never a 500.
    silo = new SiloError('validation_failed', 'the request holds text the database cannot store');
  } else if (pgCode(error) === '28P01') {
    // A tenant login refused: the company's credentials were being rotated as this connection
    // logged in (src/services/credential-rotation.ts). The next attempt uses the new password.
    log.warn({ requestId: c.get('requestId') }, 'tenant login refused; credentials rotated meanwhile?');
    silo = new SiloError('unavailable', 'the company database refused the login; try again', { retryAfterSeconds: 1 });
  } else if (isConnectionError(error)) {
    log.warn({ requestId: c.get('requestId'), code: (driverError(error) as { code?: string }).code }, 'database unreachable');
    silo = new SiloError('unavailable', 'a database this request needs cannot be reached; try again shortly');
  } else {
    // Unexpected: log what happened (name, message, SQLSTATE, stack; never a query or its
    // parameters, which drizzle's wrapper error puts in its message), answer a bare 500.
    const e = driverError(error) as { name?: string; message?: string; code?: string; stack?: string };
    log.error(
      { requestId: c.get('requestId'), err: { name: e?.name, message: e?.message, code: e?.code, stack: e?.stack } },
      'unhandled error',
    );
    silo = new SiloError('internal', 'internal error');
  }
  if (silo.code === 'internal' && error instanceof SiloError) {
    log.error({ requestId: c.get('requestId'), message: silo.message, details: silo.details }, 'request failed');
  }
  if (silo.code === 'rate_limited' || silo.code === 'unavailable') {
    const retryAfter = (silo.details as { retryAfterSeconds?: number } | undefined)?.retryAfterSeconds;
    if (retryAfter) c.header('Retry-After', String(retryAfter));
  }
  return c.json(errorBody(silo.code, silo.message, silo.details), errorStatus[silo.code] as ContentfulStatusCode);
}
