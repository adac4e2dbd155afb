// Silo as an operator runs it: a real process (`npm start`, `node dist/main.js`) on the embedded
// PostgreSQL, started in a data dir of its own, and stopped with a signal the way a process manager
// stops it. The start-up summary line says where it listens and where its cluster is.
import { type ChildProcess, spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface SiloProcess {
  child: ChildProcess;
  /** http://localhost:<port> */
  url: string;
  postgresPort: number;
  postmasterPid: number;
  /** Every line it printed, stdout and stderr. */
  lines: string[];
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** A data dir the embedded server's user can reach (as root it runs as `postgres`), so its cluster lives inside. */
export function siloDataDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'silo-proc-'));
  chmodSync(dir, 0o711);
  return dir;
}

/** The environment of a process started by a person: none of the test runner's variables. */
export function operatorEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, SILO_LOG_LEVEL: 'info', PORT: '0', ...extra };
  for (const name of ['TEST_DATABASE_URL', 'DATABASE_URL', 'VITEST', 'VITEST_POOL_ID', 'VITEST_WORKER_ID', 'NODE_OPTIONS']) {
    if (!(name in extra)) delete env[name];
  }
  return env;
}

/** Starts the command and resolves once Silo says where it listens (rejects if it ends first). */
export function startSiloProcess(command: string, args: string[], options: { cwd: string; env: NodeJS.ProcessEnv }): Promise<SiloProcess> {
  const child = spawn(command, args, { cwd: options.cwd, env: options.env, stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: string[] = [];
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((done) =>
    child.once('exit', (code, signal) => done({ code, signal })),
  );
  return new Promise((ready, fail) => {
    const timer = setTimeout(() => fail(new Error(`no start within 90 s:\n${lines.join('\n')}`)), 90_000);
    let partial = '';
    const read = (chunk: Buffer) => {
      const text = partial + chunk.toString('utf8');
      const complete = text.split('\n');
      partial = complete.pop() ?? '';
      for (const line of complete) {
        lines.push(line);
        if (!line.includes('Silo is listening on')) continue;
        const fields = JSON.parse(line) as { listen: string; management: string; embeddedCluster: string };
        clearTimeout(timer);
        ready({
          child,
          url: fields.listen,
          postgresPort: Number(fields.management.split('/')[0]!.split(':')[1]),
          postmasterPid: Number(readFileSync(join(fields.embeddedCluster, 'postmaster.pid'), 'utf8').split('\n')[0]),
          lines,
          exited,
        });
      }
    };
    child.stdout.on('data', read);
    child.stderr.on('data', read);
    void exited.then(({ code }) => {
      clearTimeout(timer);
      fail(new Error(`ended before listening (exit ${code}):\n${lines.join('\n')}`));
    });
  });
}

export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** True when something accepts TCP connections on 127.0.0.1:port. */
export function portAnswers(port: number): Promise<boolean> {
  return new Promise((done) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      done(true);
    });
    socket.once('error', () => done(false));
  });
}

/** Ends a process a failed test left running (and so its embedded server). */
export function killLeftover(silo: SiloProcess | undefined): void {
  if (silo && silo.child.exitCode === null && silo.child.signalCode === null) silo.child.kill('SIGKILL');
  if (silo && processAlive(silo.postmasterPid)) process.kill(silo.postmasterPid, 'SIGQUIT');
}

/** Sends the signal to the process that was started and waits (30 s at most) for it to end. */
export async function stopWith(silo: SiloProcess, signal: NodeJS.Signals) {
  silo.child.kill(signal);
  const timeout = new Promise<never>((_, reject) =>
    setTimeout(() => reject(new Error(`still running 30 s after ${signal}:\n${silo.lines.join('\n')}`)), 30_000).unref(),
  );
  return Promise.race([silo.exited, timeout]);
}
