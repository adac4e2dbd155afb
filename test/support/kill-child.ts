// Runs test/support/crash-child.ts and kills it with SIGKILL once it prints `step <at>` (and a
// moment more): a Silo process dying in the middle of a saga, with no cleanup at all.
import { spawn } from 'node:child_process';

export async function killChildAt(at: string, args: string[], env: NodeJS.ProcessEnv): Promise<{ killed: boolean; output: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'test/support/crash-child.ts', ...args], {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
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
