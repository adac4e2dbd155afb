// The server's log on stdout is written asynchronously (src/base/logger.ts): every line must still come
// out whole and in order, the ones logged just before the process exits included, with secrets
// redacted. Run in a child process, as `npm start` runs, reading its real stdout.
import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';

/** Runs `body` in a fresh Node process with `log` = createLogger('info') and answers its stdout and exit code. */
async function runLogging(body: string): Promise<{ code: number | null; lines: string[] }> {
  const script = `import { createLogger } from './src/base/logger.ts'; const log = createLogger('info'); ${body}`;
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  let out = '';
  child.stdout.on('data', (chunk: Buffer) => {
    out += String(chunk);
  });
  const code = await new Promise<number | null>((done) => child.once('close', done));
  return { code, lines: out.split('\n').filter((line) => line !== '') };
}

/** Starts a Node process that logs one line and then stays up; answers how long the line took to reach its stdout. */
async function msUntilFirstLine(): Promise<number> {
  const script = `import { createLogger } from './src/base/logger.ts'; const log = createLogger('info');
    log.info({ requestId: 'lone' }, 'request'); setTimeout(() => {}, 20_000);`;
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'ignore'] });
  try {
    const started = performance.now();
    return await new Promise<number>((resolve, reject) => {
      child.stdout.on('data', (chunk: Buffer) => String(chunk).includes('"lone"') && resolve(performance.now() - started));
      child.once('exit', () => reject(new Error('the process exited before its line came out')));
    });
  } finally {
    child.kill('SIGKILL');
  }
}

describe('the log on stdout', () => {
  it('writes a quiet process line out while it runs, without waiting for a batch to fill or for the exit', async () => {
    // The line waits at most the flush interval (200 ms); the start of the process is counted too.
    expect(await msUntilFirstLine()).toBeLessThan(15_000);
  });

  it('writes every line whole and in order, even those logged right before process.exit', async () => {
    const { code, lines } = await runLogging(`
      for (let i = 0; i < 5000; i++) log.info({ requestId: 'r' + i, method: 'GET', path: '/api/users/x', status: 200, ms: 1.2 }, 'request');
      log.error({ password: 'hunter2-secret', error: 'boom' }, 'the last line');
      process.exit(3);
    `);
    expect(code).toBe(3);
    expect(lines).toHaveLength(5001);
    const parsed = lines.map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(parsed.slice(0, 5000).map((entry) => entry.requestId)).toEqual(Array.from({ length: 5000 }, (_, i) => `r${i}`));
    expect(parsed[5000]).toMatchObject({ level: 50, msg: 'the last line', password: '[redacted]' });
    expect(lines.join('\n')).not.toContain('hunter2-secret');
  });

  it('writes the lines of a process ended by an uncaught error, and the error still fails it', async () => {
    const { code, lines } = await runLogging(`
      log.info({ requestId: 'before' }, 'request');
      setImmediate(() => { throw new Error('crash'); });
    `);
    expect(code).toBe(1);
    expect(lines.map((line) => JSON.parse(line).requestId)).toContain('before');
  });
});
