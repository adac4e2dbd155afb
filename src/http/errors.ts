// Turning every error into the contract's shape (docs/http-api.md): { error: { code, message, details? } }. Clients get
// the code and a message written for them; the log gets the detail. Nothing else leaks.
import type { Context } from 'hono';
import { HTTPException } from 'hono/http-exception';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { driverError, errorStatus, isConnectionError, pgCode, SiloError, type ErrorCode } from '../base/errors.ts';
import type { Logger } from '../base/logger.ts';

/**
 * The contract's code for an HTTP status that the framework or a middleware raised (an
 * HTTPException): the first code that the contract (docs/http-api.md) gives that status, so 401 is `unauthorized` and 409
 * `conflict`. One table, read from errorStatus, so a status added there is mapped here too.
 */
const codeForStatus = new Map<number, ErrorCode>();
for (const [code, status] of Object.entries(errorStatus) as [ErrorCode, number][]) {
  if (!codeForStatus.has(status)) codeForStatus.set(status, code);
}

/** What the client is told for a framework error: its own words, never the framework's detail. */
const frameworkMessages: Partial<Record<ErrorCode, string>> = {
  validation_failed: 'the request body cannot be read as its Content-Type says (not valid JSON or form data)',
  unsupported_media_type: "the body's Content-Type is not one this operation takes (see /openapi.json)",
};

/**
 * An HTTPException as a SiloError with its own status: a 4xx keeps its status (one the contract
 * has no code for gets `validation_failed`, the code of a refused request); a 5xx is ours to
 * explain, so it is logged and answered as `internal` (or `unavailable` for a 503).
 */
function fromHttpException(error: HTTPException, c: Context, log: Logger): { silo: SiloError; status: number } {
  const status = error.status;
  if (status >= 400 && status < 500) {
    const code = codeForStatus.get(status) ?? 'validation_failed';
    return { silo: new SiloError(code, frameworkMessages[code] ?? (error.message || code)), status };
  }
  if (status !== 503) log.error({ requestId: c.get('requestId'), status, message: error.message }, 'framework error');
  const code = status === 503 ? 'unavailable' : 'internal';
  return { silo: new SiloError(code, code === 'internal' ? 'internal error' : 'try again shortly'), status: errorStatus[code] };
}

export function errorBody(code: ErrorCode, message: string, details?: unknown) {
  return { error: { code, message, ...(details === undefined ? {} : { details }) } };
}

export function toErrorResponse(error: unknown, c: Context, log: Logger): Response {
  let silo: SiloError;
  let status: number | undefined;
  if (error instanceof SiloError) {
    silo = error;
  } else if (error instanceof HTTPException) {
    ({ silo, status } = fromHttpException(error, c, log));
  } else if (['22021', '22P05', '22001'].includes(pgCode(error) ?? '')) {
    // Text Postgres cannot store (a NUL, a bad escape, too long for its column): the client's
    // input, which a schema should have refused; a safety net so it is never a 500.
    silo = new SiloError('validation_failed', 'the request holds text the database cannot store');
  } else if (pgCode(error) === '28P01') {
    // A tenant login refused even after the retries that cover a rotation of the company's
    // password (src/data-plane/rotating-login.ts): rotations in quick succession, or a password
    // changed on the server by hand. Either way, not this request's fault.
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
  return c.json(errorBody(silo.code, silo.message, silo.details), (status ?? errorStatus[silo.code]) as ContentfulStatusCode);
}
