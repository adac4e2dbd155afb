#!/usr/bin/env node
// The `silo` command (package.json "bin"): tsx compiles the TypeScript sources as they load, with
// this package's tsconfig wherever the command is run from, then the CLI runs and exits with its status.
import { fileURLToPath } from 'node:url';
import { register } from 'tsx/esm/api';

register({ tsconfig: fileURLToPath(new URL('../tsconfig.json', import.meta.url)) });
const { main } = await import('../src/cli/main.ts');
await main(process.argv.slice(2));
