// The console's session: the same token the API's login issues, kept in an HttpOnly,
// SameSite=Strict cookie (Secure when the console is served over TLS), so no script and no other
// site can read or send it. Logging out revokes the user's tokens in the management database, as
// POST /api/auth/logout does, so the session ends in every instance.
import type { Context, MiddlewareHandler } from 'hono';
import { deleteCookie, getCookie, setCookie } from 'hono/cookie';
import type { IssuedToken } from '../../base/auth/tokens.ts';
import { SiloError } from '../../base/errors.ts';
import type { SiloContext } from '../../context.ts';
import { whoAmI } from '../../operations/login.ts';
import { authenticate } from '../middleware/auth.ts';
import type { ConsoleEnv } from './env.ts';

const COOKIE = 'silo_console';
const PATH = '/console';

/** Served over TLS: directly, or (with SILO_TRUST_PROXY) by a proxy that says so. */
function overTls(c: Context, trustProxy: boolean): boolean {
  if (new URL(c.req.url).protocol === 'https:') return true;
  return trustProxy && c.req.header('x-forwarded-proto')?.split(',')[0]?.trim() === 'https';
}

export function startSession(c: Context, ctx: SiloContext, issued: IssuedToken) {
  setCookie(c, COOKIE, issued.token, {
    httpOnly: true,
    sameSite: 'Strict',
    secure: overTls(c, ctx.config.trustProxy),
    path: PATH,
    maxAge: issued.expiresIn,
  });
}

export const endSession = (c: Context) => deleteCookie(c, COOKIE, { path: PATH });

/** Why the login page is shown instead: the keys of the login page's messages. */
export type SessionEnd = 'ended' | 'not-admin';

/** Sends the browser to the login page; an htmx request is told to go there as a whole page. */
export function toLogin(c: Context, reason?: SessionEnd) {
  const url = reason ? `/console/login?reason=${reason}` : '/console/login';
  if (c.req.header('hx-request') === 'true') return c.body(null, 204, { 'HX-Redirect': url });
  return c.redirect(url, 303);
}

/** Every page but the login page and the assets: a current system admin's token in the cookie. */
export function requireConsoleSession(ctx: SiloContext): MiddlewareHandler<ConsoleEnv> {
  return async (c, next) => {
    const token = getCookie(c, COOKIE);
    if (!token) return toLogin(c);
    try {
      const auth = await authenticate(ctx, token, ['system_admin']);
      const { user } = await whoAmI(ctx, auth);
      c.set('auth', auth);
      c.set('adminEmail', user.email);
    } catch (error) {
      if (!(error instanceof SiloError) || (error.code !== 'unauthorized' && error.code !== 'forbidden')) throw error;
      // An expired or revoked token, or a company user's: the cookie is of no further use.
      endSession(c);
      return toLogin(c, error.code === 'forbidden' ? 'not-admin' : 'ended');
    }
    await next();
  };
}
