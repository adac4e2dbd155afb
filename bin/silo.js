#!/usr/bin/env node
// The `silo` command (package.json "bin"). In a development install (tsx, a development dependency,
// is there) it runs the TypeScript sources, so it never runs a build older than the code beside it.
// In a production install (`npm ci --omit=dev`, no tsx) it runs the build in dist/ (`npm run build`).
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

async function loadTsx() {
  try {
    return await import('tsx/esm/api');
  } catch (error) {
    if (error?.code === 'ERR_MODULE_NOT_FOUND') return undefined;
    throw error;
  }
}

const tsx = await loadTsx();
let cli;
if (tsx) {
  // This package's tsconfig, wherever the command is run from.
  tsx.register({ tsconfig: fileURLToPath(new URL('../tsconfig.json', import.meta.url)) });
  cli = await import('../src/cli/main.ts');
} else if (existsSync(fileURLToPath(new URL('../dist/cli/main.js', import.meta.url)))) {
  cli = await import('../dist/cli/main.js');
} else {
  process.stderr.write('error: silo is not built: run `npm run build` (or install the development dependencies)\n');
  process.exit(1);
}
await cli.main(process.argv.slice(2));
