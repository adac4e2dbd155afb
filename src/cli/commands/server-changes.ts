// `silo servers update | remove`: change a registered server (its URL or API key, checked before
// they are stored; status, capacity, placement) or remove one that holds nothing.
import { Option, type Command } from 'commander';
import { serverPlacements, serverStatuses } from '../../control-plane/schema.ts';
import { changeServer, removeServer, type ServerChange } from '../../operations/server-changes.ts';
import { checkDatabaseUrl, parsePositiveInt, parseServerId } from '../arguments.ts';
import { printJson, printLine } from '../output.ts';
import { type CliRuntime, usageError } from '../runtime.ts';
import { readSecret } from '../secret-input.ts';

interface UpdateOptions {
  urlEnv?: string;
  urlStdin?: boolean;
  apiKeyEnv?: string;
  status?: ServerChange['status'];
  capacity?: number;
  placement?: ServerChange['placement'];
  json?: boolean;
}

export function registerServerChangeCommands(servers: Command, cli: CliRuntime): void {
  servers
    .command('update')
    .description('change a server: its URL or API key (checked before stored), status, capacity or placement')
    .argument('<id>', 'the server (see "silo servers list")', parseServerId)
    .option('--url-env <name>', "the environment variable that holds the new URL (postgres: it must reach the server's databases)")
    .option('--url-stdin', 'read the new URL from standard input')
    .option('--api-key-env <name>', 'neon: the environment variable that holds the new API key')
    .addOption(new Option('--status <status>', 'active, draining (no new companies) or disabled').choices(serverStatuses))
    .option('--capacity <n>', 'how many companies it may hold', parsePositiveInt(100_000))
    .addOption(
      new Option('--placement <placement>', 'automatic: sign-ups may land here; manual: only companies that name it').choices(
        serverPlacements,
      ),
    )
    .option('--json', 'print one JSON document')
    .action(async (id: string, options: UpdateOptions) => {
      const url = await readSecret(cli, { flag: '--url', env: options.urlEnv, stdin: options.urlStdin });
      const apiKey = options.apiKeyEnv ? await readSecret(cli, { flag: '--api-key', env: options.apiKeyEnv }) : undefined;
      const change: ServerChange = {
        status: options.status,
        capacity: options.capacity,
        placement: options.placement,
        url: url !== undefined && /^postgres/.test(url) ? checkDatabaseUrl(url, '--url') : url,
        apiKey,
      };
      if (Object.values(change).every((v) => v === undefined)) {
        throw usageError('nothing to change: give --url-env, --url-stdin, --api-key-env, --status, --capacity or --placement');
      }
      const server = await cli.withSilo((ctx) => changeServer(ctx, id, change));
      if (options.json) return printJson(cli.stdout, server);
      printLine(
        cli.stdout,
        `updated server ${server.name}: ${server.host}, ${server.status}, placement ${server.placement}, capacity ${server.capacity}`,
      );
    });

  servers
    .command('remove')
    .description('remove a server that holds no company (deleted ones aside) and nothing left to drop')
    .argument('<id>', 'the server', parseServerId)
    .option('--json', 'print one JSON document')
    .action(async (id: string, options: { json?: boolean }) => {
      await cli.withSilo((ctx) => removeServer(ctx, id));
      if (options.json) return printJson(cli.stdout, { id, removed: true });
      printLine(cli.stdout, `removed server ${id}`);
    });
}
