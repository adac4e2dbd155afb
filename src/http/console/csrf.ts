// Cross-site request forgery: every request that may change something (anything but GET and HEAD,
// whatever its content type) must come from a console page. The session cookie is SameSite=Strict,
// so a browser sends it with no request another site starts; on top of that the browser must say
// the request is same-origin (Sec-Fetch-Site), or, from a browser that does not send that header,
// its Origin must name the host it was sent to. A request that shows neither is refused.
import type { MiddlewareHandler } from 'hono';
import { SiloError } from '../../base/errors.ts';

function originMatchesHost(origin: string | undefined, host: string | undefined): boolean {
  if (!origin || !host) return false;
  try {
    return new URL(origin).host === host;
  } catch {
    return false;
  }
}

export const sameOriginOnly: MiddlewareHandler = async (c, next) => {
  if (c.req.method !== 'GET' && c.req.method !== 'HEAD') {
    const site = c.req.header('sec-fetch-site');
    const allowed = site !== undefined ? site === 'same-origin' : originMatchesHost(c.req.header('origin'), c.req.header('host'));
    if (!allowed) throw new SiloError('forbidden', 'this form was not sent from a console page; open the console and try again');
  }
  await next();
};
