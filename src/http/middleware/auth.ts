// Bearer-token authentication as a factory: `requireAuth(ctx, ['system_admin'])`. The check itself
// (`authenticate`) is shared with the console, which carries the same token in a cookie.
import type { Context, MiddlewareHandler } from 'hono';
import { tokenSubjects } from '../../control-plane/token-subjects.ts';
import type { Role, TokenClaims } from '../../base/auth/tokens.ts';
import type { SiloContext } from '../../context.ts';
import { SiloError } from '../../base/errors.ts';
import type { AppEnv } from '../env.ts';

/** Verifies a token and that its role may act and still stands; answers its claims or throws 401/403. */
export async function authenticate(ctx: SiloContext, token: string, allowed?: readonly Role[]): Promise<TokenClaims> {
  const claims = await ctx.tokens.verify(token);
  if (allowed && !allowed.includes(claims.role)) {
    throw new SiloError('forbidden', 'this role may not do this');
  }
  // The signature proves Silo issued the token, not that its role still stands: a system admin's
  // token must name a current system admin, and no token may predate its user's revocation.
  await tokenSubjects(ctx).assertCurrent(claims);
  return claims;
}

/** The request's bearer token, verified (401/403 as `authenticate`); its claims are also set as `auth`. */
export async function authenticateRequest(ctx: SiloContext, c: Context<AppEnv>, allowed?: readonly Role[]): Promise<TokenClaims> {
  const header = c.req.header('Authorization');
  const match = header?.match(/^Bearer\s+(\S+)$/i);
  if (!match) throw new SiloError('unauthorized', 'a Bearer token is required');
  const claims = await authenticate(ctx, match[1]!, allowed);
  c.set('auth', claims);
  return claims;
}

export function requireAuth(ctx: SiloContext, allowed?: readonly Role[]): MiddlewareHandler<AppEnv> {
  if (allowed && allowed.length === 0) throw new Error('requireAuth: allowed roles must not be empty');
  return async (c, next) => {
    await authenticateRequest(ctx, c, allowed);
    await next();
  };
}
