// Runs test/support/crash-child.ts and kills it with SIGKILL once it prints `step <at>` (and a
// moment more): a Silo process dying in the middle of a saga, with no cleanup at all. Or stops it
// there (SIGSTOP) and lets it go on (SIGCONT) once the test has done what it does meanwhile: a Silo
// paused (a stopped process, a frozen VM) in the middle of its work.
import { spawn } from 'node:child_process';

const startChild = (args: string[], env: NodeJS.ProcessEnv) =>
  spawn(process.execPath, ['--import', 'tsx', 'test/support/crash-child.ts', ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });

export async function killChildAt(at: string, args: string[], env: NodeJS.ProcessEnv): Promise<{ killed: boolean; output: string }> {
  const child = startChild(args, env);
  let output = '';
  let killed = false;
  child.stdout.on('data', (chunk: Buffer) => {
    output += String(chunk);
    if (!killed && output.includes(`step ${at}\n`)) {
      killed = true;
      setTimeout(() => child.kill('SIGKILL'), 20);
    }
  });
  child.stderr.on('data', (chunk: Buffer) => {
    output += String(chunk);
  });
  await new Promise((done) => child.once('close', done));
  return { killed, output };
}

/** Stops the child with SIGSTOP once it prints `step <at>`, runs `meanwhile`, then SIGCONT; answers how it ended. */
export async function pauseChildAt(
  at: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  meanwhile: () => Promise<void>,
): Promise<{ paused: boolean; code: number | null; output: string }> {
  const child = startChild(args, env);
  let output = '';
  let paused: Promise<void> | undefined;
  child.stdout.on('data', (chunk: Buffer) => {
    output += String(chunk);
    if (!paused && output.includes(`step ${at}\n`)) {
      child.kill('SIGSTOP');
      paused = meanwhile().finally(() => child.kill('SIGCONT'));
      // Awaited only once the child has closed: until then a failure would count as unhandled.
      paused.catch(() => {});
    }
  });
  child.stderr.on('data', (chunk: Buffer) => {
    output += String(chunk);
  });
  const code = await new Promise<number | null>((done) => child.once('close', done));
  await paused;
  return { paused: paused !== undefined, code, output };
}
