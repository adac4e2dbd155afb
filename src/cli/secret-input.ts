// Secrets given to the CLI (passwords, connection strings, API keys). A value on the command line
// shows in `ps` and in shell history, so each secret can also come from an environment variable
// (`--x-env NAME`) or from standard input (`--x-stdin`, read to its end, one trailing newline
// dropped). The value itself is never repeated in a message.
import type { CliRuntime } from './runtime.ts';
import { usageError } from './runtime.ts';

export interface SecretFlags {
  /** The flag that takes the value itself, e.g. "--password" (kept working, discouraged). */
  flag: string;
  value?: string;
  /** The name given to `<flag>-env`. */
  env?: string;
  /** Whether `<flag>-stdin` was given. */
  stdin?: boolean;
}

async function readAll(stream: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
  return Buffer.concat(chunks).toString('utf8');
}

/** The secret from whichever one form was given; undefined when none was. */
export async function readSecret(cli: CliRuntime, flags: SecretFlags): Promise<string | undefined> {
  const { flag } = flags;
  const given = [flags.value !== undefined, flags.env !== undefined, flags.stdin === true].filter(Boolean).length;
  if (given > 1) throw usageError(`give only one of ${flag}, ${flag}-env and ${flag}-stdin`);
  if (flags.env !== undefined) {
    const value = cli.env[flags.env];
    if (!value) throw usageError(`${flag}-env: the environment variable ${flags.env} is not set`);
    return value;
  }
  if (flags.stdin) {
    const value = (await readAll(cli.stdin)).replace(/\r?\n$/, '');
    if (!value) throw usageError(`${flag}-stdin: standard input was empty`);
    return value;
  }
  return flags.value;
}
