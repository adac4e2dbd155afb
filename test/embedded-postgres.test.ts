// The embedded PostgreSQL as a user meets it: it keeps Silo's secrets out of the server's
// environment, never leaves the superuser password where others can read it, and, run as root,
// starts from a folder that the `postgres` system user cannot enter.
import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, watch, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startEmbeddedPostgres } from '../src/base/embedded/embedded-postgres.ts';
import { findBinaries, platformPackage } from '../src/base/embedded/postgres-process.ts';
import { postgresUser, SHARED_ROOT } from '../src/base/embedded/run-as.ts';

const asRoot = process.getuid?.() === 0;
const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

function tempDir(mode = 0o700): string {
  const dir = mkdtempSync(join(tmpdir(), 'silo-embedded-'));
  execFileSync('chmod', [mode.toString(8), dir]);
  dirs.push(dir);
  return dir;
}

function environOf(pid: number): string {
  return readFileSync(`/proc/${pid}/environ`, 'utf8');
}

describe('the embedded server', () => {
  it("gets none of Silo's variables in its environment", async () => {
    const secret = `never-in-postgres-${Date.now()}`;
    process.env.SILO_TEST_SECRET = secret;
    try {
      const dataDir = join(tempDir(0o755), 'data');
      const server = await startEmbeddedPostgres(dataDir);
      try {
        const pid = Number(readFileSync(join(server.clusterDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
        const environ = environOf(pid);
        expect(environ).toContain('PATH=');
        expect(environ).not.toContain(secret);
        expect(environ).not.toMatch(/(^|\0)(SILO_|DATABASE_URL|TEST_DATABASE_URL)/);
      } finally {
        await server.stop();
      }
    } finally {
      delete process.env.SILO_TEST_SECRET;
    }
  }, 60_000);

  it('never writes the superuser password to the temp folder, and removes it when initdb fails', async () => {
    // Every file made in the temp folder while the server is initialised, read as soon as it appears
    // (the earlier wrapper wrote the password there, 0644, for as long as initdb ran).
    const seen: string[] = [];
    const watcher = watch(tmpdir(), (_event, name) => {
      if (!name) return;
      try {
        seen.push(readFileSync(join(tmpdir(), name), 'utf8'));
      } catch {
        // a folder, or already gone
      }
    });
    const dataDir = join(tempDir(0o755), 'data');
    let server: Awaited<ReturnType<typeof startEmbeddedPostgres>>;
    try {
      server = await startEmbeddedPostgres(dataDir);
    } finally {
      watcher.close();
    }
    await server.stop();
    const { password } = JSON.parse(readFileSync(join(dataDir, 'embedded.json'), 'utf8')) as { password: string };
    expect(seen.filter((content) => content.includes(password))).toEqual([]);
    // Nothing beside the cluster holds it either once initdb is done.
    expect(readdirSync(dirname(server.clusterDir)).filter((n) => n.includes('.init-'))).toEqual([]);

    // initdb refuses a folder that exists and is not empty: the error says so, and the password goes.
    const broken = join(tempDir(0o755), 'data');
    mkdirSync(join(broken, 'pg'), { recursive: true });
    writeFileSync(join(broken, 'pg', 'stray'), 'x');
    if (asRoot) execFileSync('chown', ['-R', 'postgres', join(broken, 'pg')]);
    await expect(startEmbeddedPostgres(broken)).rejects.toThrow(/initdb failed \(exit \d+\): .*(exists|not empty)/);
    expect(readdirSync(broken).filter((n) => n.includes('.init-'))).toEqual([]);
    expect(password.length).toBeGreaterThan(20);
  }, 60_000);
});

// PostgreSQL refuses to run as root, so only a root process runs it as another user; as any other
// user these cases do not arise.
describe.skipIf(!asRoot)('run as root from a folder the postgres user cannot enter', () => {
  it('places the cluster where that user can reach it and starts', async () => {
    const hidden = tempDir(0o700);
    const dataDir = join(hidden, '.silo');
    const server = await startEmbeddedPostgres(dataDir);
    try {
      expect(server.clusterDir.startsWith(`${SHARED_ROOT}/clusters/`)).toBe(true);
      const settings = JSON.parse(readFileSync(join(dataDir, 'embedded.json'), 'utf8')) as { clusterDir: string };
      expect(settings.clusterDir).toBe(server.clusterDir);
    } finally {
      await server.stop();
    }
    // A second start finds the same cluster.
    const again = await startEmbeddedPostgres(dataDir);
    expect(again.clusterDir).toBe(server.clusterDir);
    await again.stop();
    rmSync(server.clusterDir, { recursive: true, force: true });
  }, 60_000);

  it('copies the binaries where that user can run them', async () => {
    const hidden = tempDir(0o700);
    const shipped = (await import(platformPackage())) as { postgres: string; initdb: string };
    const packageDir = dirname(dirname(dirname(shipped.postgres)));
    cpSync(packageDir, join(hidden, 'pkg'), { recursive: true, verbatimSymlinks: true });
    const runAs = await postgresUser();
    const copied = await findBinaries(runAs, {
      postgres: join(hidden, 'pkg', 'native', 'bin', 'postgres'),
      initdb: join(hidden, 'pkg', 'native', 'bin', 'initdb'),
    });
    expect(copied.postgres.startsWith(`${SHARED_ROOT}/binaries/`)).toBe(true);
    const version = execFileSync(copied.postgres, ['--version'], { uid: runAs!.uid, gid: runAs!.gid, encoding: 'utf8' });
    expect(version).toMatch(/postgres \(PostgreSQL\) \d+/);
  }, 60_000);
});
