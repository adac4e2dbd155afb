// What every command receives: where to write, and the Silo to act on. The Silo is opened only when
// a command runs, so that --help and a rejected command line never start or touch a database.
import { openSilo } from '../bootstrap.ts';
import { loadConfig } from '../base/config/config.ts';
import type { SiloContext } from '../context.ts';
import { createLogger } from '../base/logger.ts';
import type { Writer } from './output.ts';

export const EXIT = {
  ok: 0,
  /** Something asked for was not done: an operation failed, or reconcile left findings. */
  failed: 1,
  /** The command line was refused before anything was done. */
  usage: 2,
} as const;

/** A failure the CLI reports as one line on stderr, with its exit status. */
export class CliError extends Error {
  override name = 'CliError';
  constructor(
    message: string,
    readonly exitCode: number = EXIT.failed,
  ) {
    super(message);
  }
}

export const usageError = (message: string) => new CliError(message, EXIT.usage);

export interface CliIo {
  /** The environment loadConfig parses: the process's own, or the tests' copy. */
  env: Record<string, string | undefined>;
  /** Where `--...-stdin` options read a secret from. */
  stdin: NodeJS.ReadableStream;
  stdout: Writer;
  stderr: Writer;
  /**
   * The tenant migrations the commands apply: those of the code that runs (the default), or, for
   * a caller in the same process (a test of a schema change), a folder of its own.
   */
  tenantMigrationsFolder?: string | undefined;
}

export interface CliRuntime {
  stdout: Writer;
  stderr: Writer;
  env: Record<string, string | undefined>;
  stdin: NodeJS.ReadableStream;
  /** Opens the Silo from the environment, runs `run` on it and always closes it. */
  withSilo<T>(run: (ctx: SiloContext) => Promise<T>): Promise<T>;
}

export function createRuntime(io: CliIo): CliRuntime {
  return {
    stdout: io.stdout,
    stderr: io.stderr,
    env: io.env,
    stdin: io.stdin,
    async withSilo(run) {
      // A command's output is its report: logs go to stderr, warnings and worse unless asked.
      const config = loadConfig({ ...io.env, SILO_LOG_LEVEL: io.env.SILO_LOG_LEVEL || 'warn' });
      const silo = await openSilo(config, {
        log: createLogger(config.logLevel, io.stderr),
        ...(io.tenantMigrationsFolder ? { tenantMigrationsFolder: io.tenantMigrationsFolder } : {}),
      });
      try {
        return await run(silo.ctx);
      } finally {
        await silo.close();
      }
    },
  };
}
