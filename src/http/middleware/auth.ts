// Bearer-token authentication as a factory: `requireAuth(tokens, ['system_admin'])`.
import type { MiddlewareHandler } from 'hono';
import type { Role, TokenService } from '../../auth/tokens.ts';
import { SiloError } from '../../errors.ts';
import type { AppEnv } from '../env.ts';

export function requireAuth(tokens: TokenService, allowed?: readonly Role[]): MiddlewareHandler<AppEnv> {
  if (allowed && allowed.length === 0) throw new Error('requireAuth: allowed roles must not be empty');
  return async (c, next) => {
    const header = c.req.header('Authorization');
    const match = header?.match(/^Bearer\s+(\S+)$/i);
    if (!match) throw new SiloError('unauthorized', 'a Bearer token is required');
    const claims = await tokens.verify(match[1]!);
    if (allowed && !allowed.includes(claims.role)) {
      throw new SiloError('forbidden', 'this role may not do this');
    }
    c.set('auth', claims);
    await next();
  };
}
