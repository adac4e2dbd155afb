// Reaching a Neon company's database for requests: @neondatabase/serverless's Pool (node-postgres
// over a WebSocket) wrapped by drizzle's neon-serverless driver.
//
// Node 20 has no global WebSocket, so the driver is given `ws`. SILO_NEON_WS_PROXY points the driver
// at a self-hosted WebSocket-to-TCP proxy instead of Neon's own endpoints: that is how the tests
// reach a local PostgreSQL (test/support/ws-proxy.ts), and how a non-Neon Postgres could be used.
//
// The libraries are loaded on the first Neon pool: they add about 14 MB to the process (measured),
// which a Silo without neon companies never needs.
export interface NeonDriverSettings {
  /** host:port/path of a WebSocket proxy (no protocol); unset for Neon itself. */
  wsProxy?: string | undefined;
  /** Seconds to connect to a compute, long enough for it to wake from scale to zero. */
  connectTimeoutSeconds?: number;
}

export interface PoolOptions {
  max: number;
  idleTimeoutSeconds: number;
  connectTimeoutSeconds: number;
}

let settings: NeonDriverSettings = {};
let loading: ReturnType<typeof load> | undefined;

/** Process-wide, as the driver's neonConfig is: Silo calls it once on start. */
export function configureNeonDriver(given: NeonDriverSettings): void {
  settings = given;
}

/**
 * Neon suspends an idle compute (after 5 minutes by default; the Free plan cannot turn that off)
 * and the next connection waits while it starts: usually well under a second, sometimes seconds.
 * Every connection to a Neon compute (requests, migrations, stats) allows that much.
 */
export function neonConnectTimeoutSeconds(): number {
  return settings.connectTimeoutSeconds ?? 15;
}

async function load() {
  const [{ neonConfig, Pool }, { drizzle }, { default: ws }] = await Promise.all([
    import('@neondatabase/serverless'),
    import('drizzle-orm/neon-serverless'),
    import('ws'),
  ]);
  neonConfig.webSocketConstructor = ws;
  if (settings.wsProxy) {
    neonConfig.wsProxy = settings.wsProxy;
    // A local proxy speaks plain ws:// to a Postgres without TLS...
    neonConfig.useSecureWebSocket = false;
    neonConfig.forceDisablePgSSL = true;
    // ...that asks for SCRAM, which cannot be pipelined the way Neon's cleartext password exchange is.
    neonConfig.pipelineConnect = false;
  }

  return function openNeonPool(url: string, options: PoolOptions) {
    const pool = new Pool({
      connectionString: url,
      max: options.max,
      idleTimeoutMillis: options.idleTimeoutSeconds * 1000,
      connectionTimeoutMillis: Math.max(options.connectTimeoutSeconds, neonConnectTimeoutSeconds()) * 1000,
      application_name: 'silo-tenant',
    });
    // An idle connection that breaks is reported here; without a listener it would end the process.
    // The next query on the pool opens a new connection (or fails, and that request says so).
    pool.on('error', () => {});
    // A client lent out (a transaction between two statements) has no pool listener: an error that
    // arrives while no query runs on it (57P01 when a compute suspends, the socket's end) is an
    // 'error' event that would end the process too. Listened for here, it fails the client's next
    // query instead, and the pool drops the client when it comes back (it is no longer queryable).
    pool.on('connect', (client: { on(event: 'error', listener: () => void): unknown }) => client.on('error', () => {}));
    // pg's end() waits for every client to come back; a client never released must not hold the
    // pool (and its budget slot) for ever: give up after a few seconds, as postgres.js's end does.
    const end = () => Promise.race([pool.end(), new Promise<void>((resolve) => setTimeout(resolve, 5_000).unref())]);
    // No schema: Silo does not use drizzle's relational db.query API on company databases.
    return { db: drizzle(pool), end };
  };
}

/** The function that opens Neon pools, once the driver is loaded (and configured). */
export function neonPoolOpener(): ReturnType<typeof load> {
  loading ??= load();
  return loading;
}
