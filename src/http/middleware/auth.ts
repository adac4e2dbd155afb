// Bearer-token authentication as a factory: `requireAuth(ctx, ['system_admin'])`.
import type { MiddlewareHandler } from 'hono';
import { tokenSubjects } from '../../control-plane/token-subjects.ts';
import type { Role } from '../../base/auth/tokens.ts';
import type { SiloContext } from '../../context.ts';
import { SiloError } from '../../base/errors.ts';
import type { AppEnv } from '../env.ts';

export function requireAuth(ctx: SiloContext, allowed?: readonly Role[]): MiddlewareHandler<AppEnv> {
  if (allowed && allowed.length === 0) throw new Error('requireAuth: allowed roles must not be empty');
  return async (c, next) => {
    const header = c.req.header('Authorization');
    const match = header?.match(/^Bearer\s+(\S+)$/i);
    if (!match) throw new SiloError('unauthorized', 'a Bearer token is required');
    const claims = await ctx.tokens.verify(match[1]!);
    if (allowed && !allowed.includes(claims.role)) {
      throw new SiloError('forbidden', 'this role may not do this');
    }
    // The signature proves Silo issued the token, not that its role still stands: a system admin's
    // token must name a current system admin, and no token may predate its user's revocation.
    await tokenSubjects(ctx).assertCurrent(claims);
    c.set('auth', claims);
    await next();
  };
}
