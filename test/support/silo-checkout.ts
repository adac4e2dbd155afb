// Silo started as `npm start` starts it, from a copy of the package that a test may change the way
// a deploy does (a new tenant migration): the sources, assets and migrations are copied, the
// installed node_modules are linked. The copy runs on a data dir of its own, and can be stopped
// and started again on the same one.
import { cpSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { operatorEnv, type SiloProcess, siloDataDir, startSiloProcess } from './silo-process.ts';

const root = fileURLToPath(new URL('../..', import.meta.url));

export interface SiloCheckout {
  dir: string;
  dataDir: string;
  start(): Promise<SiloProcess>;
  /** Appends a tenant migration, as a deploy brings one (picked up by the next start). */
  addTenantMigration(tag: string, sql: string): void;
  /** The embedded server's superuser, as an operator finds it in the data dir. */
  superuserUrl(database: string): string;
  remove(): void;
}

export function checkoutSilo(admin: { email: string; password: string }): SiloCheckout {
  const dir = mkdtempSync(join(tmpdir(), 'silo-checkout-'));
  for (const path of ['package.json', 'tsconfig.json', 'src', 'assets', 'migrations'])
    cpSync(join(root, path), join(dir, path), { recursive: true });
  symlinkSync(join(root, 'node_modules'), join(dir, 'node_modules'));
  const dataDir = siloDataDir();
  const env = operatorEnv({ SILO_DATA_DIR: dataDir, SILO_ADMIN_EMAIL: admin.email, SILO_ADMIN_PASSWORD: admin.password });
  return {
    dir,
    dataDir,
    start: () => startSiloProcess('npm', ['start'], { cwd: dir, env }),
    addTenantMigration(tag, sql) {
      const folder = join(dir, 'migrations', 'tenant');
      const journalPath = join(folder, 'meta', '_journal.json');
      const journal = JSON.parse(readFileSync(journalPath, 'utf8'));
      journal.entries.push({ idx: journal.entries.length, version: '7', when: journal.entries.at(-1).when + 1000, tag, breakpoints: true });
      writeFileSync(join(folder, `${tag}.sql`), sql);
      writeFileSync(journalPath, JSON.stringify(journal, null, 2));
    },
    superuserUrl(database) {
      const { port, user, password } = JSON.parse(readFileSync(join(dataDir, 'embedded.json'), 'utf8'));
      return `postgres://${encodeURIComponent(user)}:${encodeURIComponent(password)}@127.0.0.1:${port}/${database}`;
    },
    remove() {
      rmSync(dir, { recursive: true, force: true });
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
