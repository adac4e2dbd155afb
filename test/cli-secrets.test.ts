// Secrets given to the CLI: a password or a server URL on the command line
// shows in `ps` and in shell history, so each can come from an environment variable or standard
// input instead. runCli in-process, as test/cli.test.ts does, with a stdin of the test's choosing.
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../src/cli/main.ts';
import { hostOf, listServers } from '../src/control-plane/server-records.ts';
import { cliEnvOf, createTestSilo, serverUrl, type TestSilo } from './support/test-silo.ts';

let t: TestSilo;
beforeAll(async () => {
  t = await createTestSilo();
});
afterAll(() => t?.close());

async function silo(argv: string[], options: { env?: Record<string, string>; stdin?: string } = {}) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCli(argv, {
    env: { ...cliEnvOf(t), ...options.env },
    stdin: Readable.from(options.stdin === undefined ? [] : [options.stdin]),
    stdout: { write: (chunk: string) => out.push(chunk) },
    stderr: { write: (chunk: string) => err.push(chunk) },
  });
  return { code, stdout: out.join(''), stderr: err.join(''), output: out.join('') + err.join('') };
}

const logIn = (body: Record<string, string>) => t.call('POST', '/api/auth/login', { token: null, body });

describe('silo admin create', () => {
  it('takes the password from an environment variable or standard input, never repeating it', async () => {
    const fromEnv = await silo(['admin', 'create', '--email', 'env@silo.test', '--password-env', 'NEW_ADMIN_PASSWORD'], {
      env: { NEW_ADMIN_PASSWORD: 'password-from-env' },
    });
    expect(fromEnv.code).toBe(0);
    expect(fromEnv.output).not.toContain('password-from-env');
    expect((await logIn({ email: 'env@silo.test', password: 'password-from-env' })).status).toBe(200);

    // One trailing newline (as `echo` or a file gives) is not part of the password.
    const fromStdin = await silo(['admin', 'create', '--email', 'stdin@silo.test', '--password-stdin'], { stdin: 'password-from-stdin\n' });
    expect(fromStdin.code).toBe(0);
    expect((await logIn({ email: 'stdin@silo.test', password: 'password-from-stdin' })).status).toBe(200);
  });

  it('refuses a missing, empty or doubly given password with a message that names the flag, not the value', async () => {
    const cases: [string[], { env?: Record<string, string>; stdin?: string }, string][] = [
      [['--password-env', 'NOT_SET_ANYWHERE'], {}, '--password-env: the environment variable NOT_SET_ANYWHERE is not set'],
      [['--password-stdin'], { stdin: '' }, '--password-stdin: standard input was empty'],
      [['--password-stdin'], { stdin: 'short\n' }, '--password must be at least 8 characters'],
      [['--password', 'password-on-the-line', '--password-env', 'P'], { env: { P: 'password-in-env' } }, 'give only one of --password'],
      [[], {}, 'a password is required: --password-env <name> or --password-stdin'],
    ];
    for (const [flags, options, message] of cases) {
      const result = await silo(['admin', 'create', '--email', 'refused@silo.test', ...flags], options);
      expect(result.code, flags.join(' ')).toBe(2);
      expect(result.stderr, flags.join(' ')).toContain(message);
      for (const secret of ['password-on-the-line', 'password-in-env', 'short']) expect(result.stderr).not.toContain(secret);
    }
    expect((await logIn({ email: 'refused@silo.test', password: 'password-in-env' })).status).toBe(401);
  });

  it('still takes --password itself (discouraged), as before', async () => {
    const result = await silo(['admin', 'create', '--email', 'inline@silo.test', '--password', 'password-inline']);
    expect(result.code).toBe(0);
    expect((await logIn({ email: 'inline@silo.test', password: 'password-inline' })).status).toBe(200);
  });
});

describe('silo companies create', () => {
  it("takes the first admin's password from an environment variable or standard input", async () => {
    const fromEnv = await silo(
      ['companies', 'create', '--name', 'Env Co', '--slug', 'env-co', '--admin-email', 'boss@env.test', '--admin-password-env', 'BOSS_PW'],
      { env: { BOSS_PW: 'boss-password-env' } },
    );
    expect(fromEnv.code).toBe(0);
    expect(fromEnv.output).not.toContain('boss-password-env');
    expect(fromEnv.stdout).not.toContain('temporary password');
    expect((await logIn({ email: 'boss@env.test', password: 'boss-password-env', company: 'env-co' })).status).toBe(200);

    const fromStdin = await silo(
      ['companies', 'create', '--name', 'Stdin Co', '--slug', 'stdin-co', '--admin-email', 'boss@stdin.test', '--admin-password-stdin'],
      { stdin: 'boss-password-stdin\r\n' },
    );
    expect(fromStdin.code).toBe(0);
    expect((await logIn({ email: 'boss@stdin.test', password: 'boss-password-stdin', company: 'stdin-co' })).status).toBe(200);

    const unset = await silo(['companies', 'create', '--name', 'No Co', '--admin-email', 'b@no.test', '--admin-password-env', 'NOPE']);
    expect(unset.code).toBe(2);
    expect(unset.stderr).toContain('--admin-password-env: the environment variable NOPE is not set');
  });
});

describe('silo servers add | update', () => {
  it('take the admin URL from an environment variable or standard input, and never print it', async () => {
    // The suite's server is this Silo's default server already: adding it again is refused with
    // the cluster it read from the variable (so the URL was read), and without the URL itself.
    const url = serverUrl();
    const password = decodeURIComponent(new URL(url).password);
    const fromEnv = await silo(['servers', 'add', '--name', 'from-env', '--url-env', 'SECOND_SERVER_URL'], {
      env: { SECOND_SERVER_URL: url },
    });
    expect(fromEnv.code).toBe(1);
    expect(fromEnv.stderr).toContain(`the PostgreSQL cluster at ${hostOf(url)} is already registered as server "default"`);
    const fromStdinAdd = await silo(['servers', 'add', '--name', 'from-stdin', '--url-stdin'], { stdin: `${url}\n` });
    expect(fromStdinAdd.code).toBe(1);
    expect(fromStdinAdd.stderr).toContain('already registered as server "default"');
    // Pointing the default server at the same cluster through another database is a change.
    const [defaultServer] = await listServers(t.ctx);
    const fromStdin = await silo(['servers', 'update', defaultServer!.id, '--url-stdin'], { stdin: `${url}\n` });
    expect(fromStdin.code, fromStdin.stderr).toBe(0);
    for (const output of [fromEnv.output, fromStdinAdd.output, fromStdin.output]) {
      expect(output).not.toContain(url);
      if (password) expect(output).not.toContain(password);
    }
    expect((await listServers(t.ctx)).map((s) => s.name)).toEqual(['default']);

    const missing = await silo(['servers', 'add', '--name', 'none']);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('a postgres server needs its URL: --url-env <name> or --url-stdin');
    const notAUrl = await silo(['servers', 'add', '--name', 'bad', '--url-stdin'], { stdin: 'mysql://root:hunter2@db\n' });
    expect(notAUrl.code).toBe(2);
    expect(notAUrl.stderr).toBe('error: --url must be a postgres:// or postgresql:// URL\n');
  });
});
