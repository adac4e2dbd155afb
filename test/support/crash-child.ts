// Work in a process of its own, so that a test can SIGKILL it mid-way (no cleanup at all).
// Usage: tsx test/support/crash-child.ts provision <slug>... | move <slug> <serverId> | restore <slug> <backupId>
//        | backup <slug> (prints `step backup` once its first rows are on their way to the archive)
// Configuration from the environment. Before each saga step it prints `step <name>` and then waits
// a little, so the test can strike while that step is under way.
import { setTimeout as sleep } from 'node:timers/promises';
import { openSilo } from '../../src/bootstrap.ts';
import { loadConfig } from '../../src/base/config/config.ts';
import { createLogger } from '../../src/base/logger.ts';
import { provisionCompany } from '../../src/operations/provisioning/provision-company.ts';
import { moveCompany } from '../../src/operations/scale-out/move-company.ts';
import { restoreCompany } from '../../src/operations/backups/restore-in-place.ts';
import { takeBackup } from '../../src/operations/backups/backups.ts';

const [what, ...args] = process.argv.slice(2);
const silo = await openSilo(loadConfig(), { log: createLogger('silent') });
const step = async (name: string) => {
  process.stdout.write(`step ${name}\n`);
  await sleep(50);
};
silo.ctx.beforeProvisionStep = step;
silo.ctx.beforeMoveStep = step;

if (what === 'provision') {
  for (const slug of args) {
    await provisionCompany(silo.ctx, { name: slug, slug, admin: { email: `boss@${slug}.test`, password: 'boss-password' } }, 'crash-child');
    process.stdout.write(`created ${slug}\n`);
  }
} else if (what === 'move') {
  await moveCompany(silo.ctx, args[0]!, args[1]!, 'crash-child');
  process.stdout.write('moved\n');
} else if (what === 'restore') {
  await restoreCompany(silo.ctx, args[0]!, args[1]!, 'crash-child', { beforeStep: step });
  process.stdout.write('restored\n');
} else if (what === 'backup') {
  let told = false;
  await takeBackup(silo.ctx, args[0]!, 'crash-child', 'manual', () => {
    if (told) return;
    told = true;
    process.stdout.write('step backup\n');
    // The thread held a moment (progress is told synchronously), so that the test stops this
    // process while the archive is being written, not after.
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 500);
  });
  process.stdout.write('backed up\n');
}
await silo.close();
process.exit(0);
