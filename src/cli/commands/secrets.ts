// `silo secrets rotate-master-key`: re-seals every stored credential (company roles, connection
// strings, server URLs, Neon API keys) under the current SILO_MASTER_KEY, while Silo keeps
// serving. Run with SILO_MASTER_KEY set to the new key and SILO_MASTER_KEY_PREVIOUS to the old one,
// as every running instance is during a rotation (docs/security-database.md has the steps).
// `silo secrets rotate-jwt-key`: a new key for access tokens (docs/security.md, "Signing keys").
import type { Command } from 'commander';
import { rotateJwtKey } from '../../control-plane/signing-keys.ts';
import { resealStored } from '../../base/crypto/reseal.ts';
import { parsePositiveInt } from '../arguments.ts';
import { printJson, printLine } from '../output.ts';
import { CliError, usageError, type CliRuntime } from '../runtime.ts';

export function registerSecretsCommands(program: Command, cli: CliRuntime): void {
  const secrets = program.command('secrets').description("Silo's own keys");

  secrets
    .command('rotate-master-key')
    .description('re-seal every stored credential under SILO_MASTER_KEY; values under SILO_MASTER_KEY_PREVIOUS are read with it')
    .option('--batch-size <n>', 'rows read at a time', parsePositiveInt(10_000), 200)
    .option('--json', 'print one JSON document at the end: { checked, resealed, complete }')
    .addHelpText(
      'after',
      '\nSafe to interrupt (Ctrl-C stops after the current batch) and to run again: what is already\n' +
        'under the current key is skipped. Exit status 0 once everything is; then SILO_MASTER_KEY_PREVIOUS\n' +
        'can be removed from every instance.',
    )
    .action(async (options: { batchSize: number; json?: boolean }) => {
      if (!cli.env.SILO_MASTER_KEY_PREVIOUS) {
        throw usageError('set SILO_MASTER_KEY to the new key and SILO_MASTER_KEY_PREVIOUS to the one being replaced');
      }
      const interrupt = new AbortController();
      const onSignal = () => {
        // Said at once, so that the operator (and a test) knows the signal was heard.
        printLine(cli.stderr, 'stopping after the batch under way');
        interrupt.abort();
      };
      process.once('SIGINT', onSignal);
      process.once('SIGTERM', onSignal);
      try {
        const progress = await cli.withSilo((ctx) =>
          resealStored(ctx.sql, ctx.box, {
            which: 'stale',
            batchSize: options.batchSize,
            signal: interrupt.signal,
            onBatch: (p) => {
              if (!options.json) printLine(cli.stderr, `checked ${p.checked}, re-sealed ${p.resealed}`);
            },
          }),
        );
        const complete = !interrupt.signal.aborted;
        if (options.json) printJson(cli.stdout, { ...progress, complete });
        else if (complete) {
          printLine(cli.stdout, `re-sealed ${progress.resealed} of ${progress.checked} stored credentials under the current key`);
          printLine(cli.stdout, 'every stored credential is under SILO_MASTER_KEY: SILO_MASTER_KEY_PREVIOUS can be removed');
        }
        if (!complete) throw new CliError(`interrupted after re-sealing ${progress.resealed}; run it again to finish`);
      } finally {
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
      }
    });

  secrets
    .command('rotate-jwt-key')
    .description('add a new key for signing access tokens; tokens signed by the previous ones stay valid until they expire')
    .option('--json', 'print { kid } as JSON')
    .addHelpText(
      'after',
      '\nEvery running instance signs with the new key from the moment it is added. Prints the new\n' +
        "key's id (the kid in tokens' headers), never the key. Keys superseded more than SILO_TOKEN_TTL\n" +
        'ago are wiped by the next rotation.',
    )
    .action(async (options: { json?: boolean }) => {
      const { kid } = await cli.withSilo((ctx) => rotateJwtKey(ctx, ctx.config.tokenTtlSeconds));
      if (options.json) printJson(cli.stdout, { kid });
      else printLine(cli.stdout, `new JWT signing key: ${kid}`);
    });
}
