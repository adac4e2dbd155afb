// PostgreSQL refuses to run as root. A root process (a container, a CI runner, a root shell) runs
// the embedded server as the `postgres` system user instead, created when missing. That user must
// reach the binaries and the cluster; a clone in root's home folder (mode 0700) hides both, so they
// are then placed under /var/lib/silo, where it can.
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, chownSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';

/** Run as the user: a folder must be enterable, a file readable and executable. */
const REACH_CHECK = `const fs = require('fs'); const p = process.argv[1];
fs.accessSync(p, fs.statSync(p).isDirectory() ? fs.constants.X_OK : fs.constants.R_OK | fs.constants.X_OK);`;

/** Where a root process keeps what the `postgres` user must reach when the clone's folder hides it. */
export const SHARED_ROOT = '/var/lib/silo';

export interface PostgresUser {
  uid: number;
  gid: number;
  /** Hands these paths to the user. */
  own(...paths: string[]): void;
  /** True when the user can enter the folder, or read and run the file. */
  canReach(path: string): boolean;
}

function idOf(flag: '-u' | '-g'): number | undefined {
  try {
    return Number(execFileSync('id', [flag, 'postgres'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim());
  } catch {
    return undefined;
  }
}

/** The user the server runs as: undefined when this process is not root (it runs as itself). */
export async function postgresUser(): Promise<PostgresUser | undefined> {
  if (process.getuid?.() !== 0) return undefined;
  if (idOf('-u') === undefined) {
    try {
      execFileSync('useradd', ['--system', '--user-group', '--no-create-home', '--shell', '/usr/sbin/nologin', 'postgres'], {
        stdio: 'ignore',
      });
    } catch {
      throw new Error(
        'PostgreSQL cannot run as root and no `postgres` system user could be created: create one (useradd --system postgres) or set DATABASE_URL',
      );
    }
  }
  const uid = idOf('-u');
  const gid = idOf('-g');
  if (uid === undefined || gid === undefined) throw new Error('the `postgres` system user has no uid or gid');
  return {
    uid,
    gid,
    own: (...paths) => {
      for (const path of paths) chownSync(path, uid, gid);
    },
    // Asked of the kernel as that user, so that every folder on the way, ACLs included, is counted.
    canReach: (path) =>
      spawnSync(process.execPath, ['-e', REACH_CHECK, path], { uid, gid, stdio: 'ignore', env: { PATH: process.env.PATH } }).status === 0,
  };
}

/**
 * `wanted` when the user can reach the folder it would be made in; otherwise a folder of its own
 * under SHARED_ROOT, named after `key` so that the same data dir always finds the same place.
 */
export function placeForPostgresUser(user: PostgresUser, wanted: string, kind: string, key: string): string | undefined {
  const parent = join(wanted, '..');
  if (user.canReach(parent)) return undefined;
  const place = join(sharedFolder(kind), createHash('sha256').update(key).digest('hex').slice(0, 16));
  return place;
}

/** SHARED_ROOT/<kind>, made when missing: enterable by the user, listable by root only. */
export function sharedFolder(kind: string): string {
  const folder = join(SHARED_ROOT, kind);
  mkdirSync(folder, { recursive: true, mode: 0o711 });
  chmodSync(SHARED_ROOT, 0o711);
  chmodSync(folder, 0o711);
  return folder;
}
