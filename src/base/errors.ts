// Domain errors. Services throw these; the HTTP layer maps `code` to a status (the table in docs/http-api.md) and
// the CLI prints `message`. Messages are written for the caller and never carry secrets or SQL.
import { DrizzleQueryError } from 'drizzle-orm/errors';
import { describeTlsFailure, isCertificateRefused } from './db/tls-errors.ts';

export const errorStatus = {
  validation_failed: 400,
  unauthorized: 401,
  invalid_credentials: 401,
  forbidden: 403,
  company_suspended: 403,
  not_found: 404,
  conflict: 409,
  limit_exceeded: 409,
  payload_too_large: 413,
  unsupported_media_type: 415,
  range_not_satisfiable: 416,
  rate_limited: 429,
  internal: 500,
  unavailable: 503,
} as const;

export type ErrorCode = keyof typeof errorStatus;

export class SiloError extends Error {
  override name = 'SiloError';
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details?: unknown,
  ) {
    super(message);
  }
}

export const notFound = (what: string) => new SiloError('not_found', `${what} not found`);
export const conflict = (message: string, details?: unknown) => new SiloError('conflict', message, details);
export const invalid = (message: string, details?: unknown) => new SiloError('validation_failed', message, details);
export const unavailable = (message: string) => new SiloError('unavailable', message);

/**
 * The driver's error, unwrapped from drizzle's DrizzleQueryError (which keeps it as `cause`) and
 * from the WebSocket `ErrorEvent` that Neon's serverless driver rejects with when its socket fails
 * (the Error is its `error`).
 */
export function driverError(error: unknown): unknown {
  let current = error;
  for (let depth = 0; depth < 5; depth++) {
    if (current instanceof DrizzleQueryError) current = current.cause;
    else if (isErrorEvent(current)) current = current.error;
    else break;
  }
  return current;
}

function isErrorEvent(value: unknown): value is { error: Error } {
  return typeof value === 'object' && value !== null && !(value instanceof Error) && (value as { error?: unknown }).error instanceof Error;
}

/** node-postgres (under Neon's driver) says these without a code. */
const PG_CONNECTION_MESSAGES =
  /^(timeout exceeded when trying to connect|Connection terminated( unexpectedly| due to connection timeout)?)$/;

/** A Postgres error's SQLSTATE, when the error came from the server. */
export function pgCode(error: unknown): string | undefined {
  const code = (driverError(error) as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) ? code : undefined;
}

/**
 * A short, secret-free description of a failure for audit rows and `failed` companies: the
 * Postgres message and SQLSTATE, or the error's own message. postgres.js errors also carry the
 * query text and parameters; those are never used.
 */
export function describeError(error: unknown): string {
  if (error instanceof SiloError) return error.message;
  const code = pgCode(error);
  // DrizzleQueryError's own message holds the query text and parameters: use the driver's.
  const inner = driverError(error);
  const tls = describeTlsFailure(inner);
  if (tls) return tls;
  const message = inner instanceof Error ? inner.message : String(inner);
  return code ? `${message} (SQLSTATE ${code})` : message;
}

/**
 * Whether an error means a database could not be reached (refused, timed out, dropped, or the
 * server shutting down), as opposed to a query failing on a database that answers.
 */
export function isConnectionError(error: unknown): boolean {
  const inner = driverError(error);
  const code = String((inner as { code?: unknown } | null)?.code ?? '');
  if (inner instanceof Error && !code && PG_CONNECTION_MESSAGES.test(inner.message)) return true;
  return (
    isCertificateRefused(inner) ||
    /^(ECONNREFUSED|ECONNRESET|ETIMEDOUT|EHOSTUNREACH|ENETUNREACH|ENOTFOUND|EPIPE)$/.test(code) ||
    /^(CONNECT_TIMEOUT|CONNECTION_CLOSED|CONNECTION_ENDED|CONNECTION_DESTROYED)$/.test(code) ||
    /^(08...|57P01|57P02|57P03)$/.test(code)
  );
}
