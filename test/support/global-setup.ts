// One real PostgreSQL for the whole run: TEST_DATABASE_URL when given (a login that may create
// databases and roles), otherwise an embedded one on a free port in a temporary directory.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { startEmbeddedPostgres } from '../../src/base/embedded/embedded-postgres.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    serverUrl: string;
  }
}

export default async function setup(project: TestProject) {
  const given = process.env.TEST_DATABASE_URL;
  if (given) {
    project.provide('serverUrl', given);
    return;
  }
  const dir = mkdtempSync(join(tmpdir(), 'silo-test-'));
  const server = await startEmbeddedPostgres(dir, { maxConnections: 300 });
  project.provide('serverUrl', server.url);
  return async () => {
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  };
}
