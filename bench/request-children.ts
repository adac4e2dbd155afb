// The child processes of bench/requests.ts: each server under test (bench/request-server.ts) and
// each load generator run (bench/requests-load.ts) is a Node process of its own, started with tsx and
// an IPC channel, so that no two of them share an event loop.
import { type ChildProcess, fork } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import type { ServerMessage } from './request-server.ts';
import type { LoadJob, LoadResult } from './requests-load.ts';

function forkTs(
  script: string,
  env: Record<string, string>,
  nodeArgs: string[] = [],
  stdout: 'inherit' | number = 'inherit',
  checkout?: string,
): ChildProcess {
  const path = checkout ? join(checkout, 'bench', script) : fileURLToPath(new URL(script, import.meta.url));
  return fork(path, [], {
    ...(checkout ? { cwd: checkout } : {}),
    execArgv: ['--import', 'tsx', ...nodeArgs],
    env: { ...process.env, ...env },
    stdio: ['ignore', stdout, 'inherit', 'ipc'],
  });
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  await Promise.race([exited, sleep(20_000)]);
  if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
}

export interface ServerChild {
  url: string;
  stats(): Promise<Extract<ServerMessage, { type: 'stats' }>>;
  /** Memory samples (every 250 ms) from now until stopRecording(). */
  startRecording(): void;
  stopRecording(): { rss: number; heapUsed: number; heapTotal: number }[];
  stop(): Promise<void>;
}

export async function startServer(
  mode: 'silo' | 'bare',
  env: Record<string, string>,
  /** DIR/name: where to write its CPU profile, or undefined for none. */
  profile: { dir: string | undefined; name: string },
  stdout: 'inherit' | number = 'inherit',
  checkout?: string,
): Promise<ServerChild> {
  const profileOut: Record<string, string> = profile.dir ? { BENCH_PROFILE_OUT: join(profile.dir, profile.name) } : {};
  const child = forkTs('./request-server.ts', { ...env, ...profileOut, BENCH_MODE: mode }, [], stdout, checkout);
  const port = await new Promise<number>((resolve, reject) => {
    child.on('message', (m: ServerMessage) => m.type === 'ready' && resolve(m.port));
    child.once('exit', (code) => reject(new Error(`the ${mode} server exited (code ${code}) before listening`)));
  });
  let recording: { rss: number; heapUsed: number; heapTotal: number }[] | null = null;
  child.on('message', (m: ServerMessage) => {
    if (m.type === 'rss') recording?.push({ rss: m.rss, heapUsed: m.heapUsed, heapTotal: m.heapTotal });
  });
  return {
    url: `http://127.0.0.1:${port}`,
    stats: () =>
      new Promise((resolve) => {
        const onMessage = (m: ServerMessage) => {
          if (m.type !== 'stats') return;
          child.off('message', onMessage);
          resolve(m);
        };
        child.on('message', onMessage);
        child.send({ type: 'stats' });
      }),
    startRecording: () => {
      recording = [];
    },
    stopRecording: () => {
      const samples = recording ?? [];
      recording = null;
      return samples;
    },
    stop: () => stopChild(child),
  };
}

/** One autocannon run in a child process of its own. */
export async function load(job: LoadJob): Promise<LoadResult> {
  const child = forkTs('./requests-load.ts', {});
  try {
    const result = new Promise<LoadResult>((resolve, reject) => {
      child.once('message', (m: LoadResult) => resolve(m));
      child.once('exit', (code) => reject(new Error(`the load generator exited (code ${code}) without a result`)));
    });
    child.send(job);
    return await result;
  } finally {
    await stopChild(child);
  }
}
