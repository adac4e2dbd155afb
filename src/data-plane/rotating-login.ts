// A tenant pool whose role's password may be rotated under it (src/operations/credential-rotation.ts)
// without a request failing.
//
// Every new connection asks for the password (postgres.js calls `password()` at each login), so pools
// follow a rotation. That alone leaves a window: PostgreSQL checks a login against the role's
// password as set at that moment, and the rotation sets the role's password and commits the row
// that holds it one after the other, so a login whose read of the row and check by the server fall
// on either side of ALTER ROLE is refused (28P01). The query that asked for that connection then
// fails before it was ever sent (postgres.js rejects only the query a connection was opened for,
// and only before that connection is ready), so it is safe to send again: once the rotation has
// committed (`refused()` waits for that), the next connection reads the new password.
import type { Sql } from 'postgres';

export interface RotatingLogin {
  /** The role's current password, read anew for every connection. */
  password(): Promise<string>;
  /** Called when a login was refused: resolves once a rotation under way (if any) has committed. */
  refused(): Promise<void>;
}

const INVALID_PASSWORD = '28P01';
/**
 * Attempts after the first. One is enough unless another rotation of the same company sets the
 * role's password within the round trip of the retried login; a password that is simply wrong
 * (changed by hand on the server) costs this many extra logins before the request fails.
 */
const RETRIES = 3;

function refusedLogin(error: unknown): boolean {
  return (error as { code?: unknown } | null)?.code === INVALID_PASSWORD;
}

/**
 * `attempt()`, sent again after a refused login. Written with one `catch` rather than an async loop:
 * every tenant query passes through here, and on success this adds a single promise to it.
 */
function retryingRefusedLogins<T>(login: RotatingLogin, attempt: () => Promise<T>, retry = 0): Promise<T> {
  return attempt().catch(async (error: unknown) => {
    if (retry >= RETRIES || !refusedLogin(error)) throw error;
    await login.refused();
    return retryingRefusedLogins(login, attempt, retry + 1);
  });
}

/**
 * One query of `unsafe()`, sent again after a refused login. A class rather than closures made per
 * query: every tenant query passes through here, and the server runs under tsx, which names each
 * function it creates (esbuild's keepNames: one Object.defineProperty per closure), three per query.
 */
class RetriedQuery {
  constructor(
    private readonly sql: Sql,
    private readonly login: RotatingLogin,
    private readonly args: Parameters<Sql['unsafe']>,
  ) {}

  // postgres.js queries are lazy: each attempt is a new query, sent when awaited.
  private send(): ReturnType<Sql['unsafe']> {
    return this.sql.unsafe(...this.args);
  }

  // biome-ignore lint/suspicious/noThenProperty: awaited as a query is
  then(onSent?: (rows: unknown) => unknown, onFailed?: (error: unknown) => unknown): Promise<unknown> {
    return retryingRefusedLogins(this.login, this.send.bind(this)).then(onSent, onFailed);
  }

  values(): Promise<unknown> {
    return retryingRefusedLogins(this.login, this.sendValues.bind(this));
  }

  private sendValues(): Promise<unknown> {
    return this.send().values();
  }
}

/**
 * `sql` as drizzle and src/base/db/transaction.ts use it, with queries (`unsafe()`, and `.values()` on
 * them) and reservations (`reserve()`) sent again after a refused login. Everything else is
 * `sql`'s own; tagged-template queries are not retried (Silo sends tenant queries through drizzle).
 */
export function retryRefusedLogins(sql: Sql, login: RotatingLogin): Sql {
  const unsafe = (...args: Parameters<Sql['unsafe']>) => new RetriedQuery(sql, login, args);
  const reserve = () => retryingRefusedLogins(login, () => sql.reserve());
  return new Proxy(sql, {
    get(target, property, receiver) {
      if (property === 'unsafe') return unsafe;
      if (property === 'reserve') return reserve;
      return Reflect.get(target, property, receiver);
    },
  });
}
