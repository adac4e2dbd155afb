// How fast a company is backed up and restored in place, and how long a restore holds its writes:
// one company of about --mb megabytes of table data, backed up by takeBackup and restored by
// restoreCompany as the API and the CLI call them.
//
//   npm run bench:backup [-- --mb N]     about N MB of COPY text in the company (default 100; or BENCH_MB)
//   ... -- --runs N                      backups and restores (default 3; or BENCH_RUNS)
//   BENCH_DATABASE_URL=postgres://...    the server (an admin login) instead of an embedded one
//
// Baselines, measured in the same run just before each backup and restore: the same tables by
// hand, as postgres.js does it with nothing of Silo's around it: COPY ... TO STDOUT of every table
// in one REPEATABLE READ transaction written to a file with its rows counted (raw: the baseline),
// piped into a file (piped: stream.pipeline, nothing counted; slower than raw here), and through
// one gzip level 1 stream; and COPY ... FROM STDIN of that raw file into an empty database at the
// same schema. The backup is taken with each codec a format 3 archive may name (brotli, the
// default, and gzip), alternating which goes first. The piped and raw COPY and the brotli backup
// also record the CPU time this process and the embedded server used: both sides of a pipe share
// the machine's cores. Results and their reading: docs/backups.md.
import { once } from 'node:events';
import { createReadStream, createWriteStream, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip, constants as zlib } from 'node:zlib';
import type { Sql } from 'postgres';
import type { SiloContext } from '../src/context.ts';
import { applyMigrations } from '../src/base/db/migration-runner.ts';
import { takeBackup } from '../src/operations/backups/backups.ts';
import { restoreCompany } from '../src/operations/backups/restore-in-place.ts';
import { tenantNames } from '../src/base/names.ts';
import { provisionCompany } from '../src/operations/provisioning/provision-company.ts';
import { COPY_SESSION, copyInto, fingerprint, readTables, type TableShape } from '../src/operations/scale-out/table-copy.ts';
import { copyOutStream, digestTable } from '../src/operations/backups/copy-digest.ts';
import { listServers } from '../src/control-plane/server-records.ts';
import { fill } from './company-data.ts';
import {
  cpuSnapshot,
  formatTable,
  intOption,
  machineInfo,
  median,
  ms,
  openBenchSilo,
  runBench,
  serverInfo,
  startBenchServer,
} from './support.ts';

const copyOptions = { connection: { ...COPY_SESSION }, idle_timeout: 0, max_lifetime: 0 };

/**
 * Every table's COPY text from one snapshot: a file per table in `dir` (raw), or all through one
 * gzip stream (`gzip`). Answers the rows and bytes of text.
 */
async function dumpByHand(sql: Sql, tables: TableShape[], dir: string, gzip: boolean): Promise<{ rows: number; bytes: number }> {
  let bytes = 0;
  let rows = 0;
  await sql.unsafe('begin isolation level repeatable read, read only');
  const zipped = gzip ? createGzip({ level: zlib.Z_BEST_SPEED }) : undefined;
  const zippedDone = zipped ? pipeline(zipped, createWriteStream(join(dir, 'all.copy.gz'))) : undefined;
  for (const table of tables) {
    const reader: Readable = await sql`copy ${sql(table.name)} (${sql(table.columns)}) to stdout`.readable();
    const target: Writable = zipped ?? createWriteStream(join(dir, `${table.name}.copy`));
    for await (const chunk of reader) {
      bytes += (chunk as Buffer).length;
      rows += (chunk as Buffer).toString('latin1').split('\n').length - 1;
      if (!target.write(chunk)) await once(target, 'drain');
    }
    reader._read(0);
    if (!zipped) {
      target.end();
      await once(target, 'finish');
    }
  }
  zipped?.end();
  await zippedDone;
  await sql.unsafe('commit');
  return { rows, bytes };
}

/**
 * The plainest pipe: every table's COPY stream piped into a file of its own (`stream.pipeline`), with
 * no row count and no hash. It was measured slower than dumpByHand's loop (docs/backups.md), so the
 * raw loop, the faster of the two, is the baseline the targets are read against.
 */
async function pipeByHand(sql: Sql, tables: TableShape[], dir: string): Promise<void> {
  await sql.unsafe('begin isolation level repeatable read, read only');
  for (const table of tables) {
    // postgres.js's stream with the resume it needs after a COPY TO (copyOutStream), nothing else.
    await pipeline(await copyOutStream(sql, table), createWriteStream(join(dir, `${table.name}.piped`)));
  }
  await sql.unsafe('commit');
}

/** The wall time of `run`, and the CPU time this process and the embedded server used meanwhile. */
async function timed<T>(run: () => Promise<T>): Promise<{ value: T; ms: number; cpu: { node: number; postgres: number } }> {
  const before = cpuSnapshot(postmasterPid);
  const started = performance.now();
  const value = await run();
  const ms = performance.now() - started;
  const after = cpuSnapshot(postmasterPid);
  return { value, ms, cpu: { node: after.nodeMs - before.nodeMs, postgres: after.postgresMs - before.postgresMs } };
}

let postmasterPid: number | undefined;

async function main() {
  const mb = intOption('mb', 'BENCH_MB', 100);
  const runs = intOption('runs', 'BENCH_RUNS', 3);
  const server = await startBenchServer();
  postmasterPid = server.postmasterPid;
  const work = mkdtempSync(join(tmpdir(), 'silo-bench-backup-'));
  const bench = await openBenchSilo(server.url, { SILO_BACKUP_DIR: join(work, 'backups') });
  const ctx: SiloContext = bench.silo.ctx;
  // The same Silo writing gzip archives: the codec is read from the configuration when a backup starts.
  const gzipCtx: SiloContext = { ...ctx, config: { ...ctx.config, backups: { ...ctx.config.backups, compression: 'gzip' } } };
  try {
    const [defaultServer] = await listServers(ctx);
    const serverId = defaultServer!.id;
    const { company } = await provisionCompany(
      ctx,
      { name: 'Bench', slug: 'bench', admin: { email: 'boss@bench.example', password: 'bench-password' } },
      'bench',
    );
    const database = tenantNames(ctx.config.dbPrefix, company).database;
    process.stderr.write(`filling about ${mb} MB...\n`);
    await fill(ctx, serverId, database, mb);

    const admin = await ctx.servers.admin(serverId);
    const rows: string[][] = [];
    const figures = {
      piped: [] as number[],
      hand: [] as number[],
      handGzip: [] as number[],
      backupGzip: [] as number[],
      verifyOne: [] as number[],
      verifyTwo: [] as number[],
      backup: [] as number[],
      load: [] as number[],
      restore: [] as number[],
      hold: [] as number[],
      /** Each run's raw COPY time over its backup's: the ratio within one run, less moved by the machine's load. */
      ofRaw: [] as number[],
      ofRawGzip: [] as number[],
      ofPiped: [] as number[],
      pipedNodeCpu: [] as number[],
      pipedPgCpu: [] as number[],
      handNodeCpu: [] as number[],
      handPgCpu: [] as number[],
      backupNodeCpu: [] as number[],
      backupPgCpu: [] as number[],
    };
    let text = { rows: 0, bytes: 0 };
    const archiveBytes = { brotli: 0, gzip: 0 };
    for (let run = 1; run <= runs; run++) {
      const source = await ctx.servers.open(serverId, database, undefined, copyOptions);
      const tables = await readTables(source);
      const hand = await timed(() => dumpByHand(source, tables, work, false));
      const piped = await timed(() => pipeByHand(source, tables, work));
      const handGzip = await timed(() => dumpByHand(source, tables, work, true));
      await source.end();
      text = hand.value;
      // Alternated, so that neither codec always runs on the warmer cache.
      const takeWith = (on: SiloContext) => timed(() => takeBackup(on, company.id, 'bench'));
      const gzipFirst = run % 2 === 0;
      const backupGzip = gzipFirst ? await takeWith(gzipCtx) : undefined;
      const backup = await takeWith(ctx);
      const backupGzipAfter = gzipFirst ? backupGzip! : await takeWith(gzipCtx);
      archiveBytes.brotli = backup.value.sizeBytes ?? 0;
      archiveBytes.gzip = backupGzipAfter.value.sizeBytes ?? 0;

      // By hand: an empty database at the same schema, every table's COPY text loaded in one transaction.
      const scratch = `${ctx.config.dbPrefix}_scratch`;
      await admin.unsafe(`drop database if exists "${scratch}" with (force)`);
      await admin.unsafe(`create database "${scratch}"`);
      const into = await ctx.servers.open(serverId, scratch, undefined, copyOptions);
      await applyMigrations(into, ctx.tenantMigrations);
      const load = await timed(async () => {
        await into.unsafe('begin');
        for (const table of tables) await copyInto(into, table, createReadStream(join(work, `${table.name}.copy`)));
        await into.unsafe('commit');
      });
      await into.end();
      await admin.unsafe(`drop database if exists "${scratch}" with (force)`);

      const restore = await timed(() => restoreCompany(ctx, company.id, backup.value.id, 'bench'));
      // The restore's check of every table, as format 1 made it (SQL) and as format 2 does (COPY read back).
      const restored = await ctx.servers.open(serverId, database, undefined, copyOptions);
      const verifyOne = await timed(async () => {
        for (const table of tables) await fingerprint(restored, table);
      });
      const verifyTwo = await timed(async () => {
        for (const table of tables) await digestTable(restored, table);
      });
      await restored.end();
      figures.piped.push(piped.ms);
      figures.pipedNodeCpu.push(piped.cpu.node);
      figures.pipedPgCpu.push(piped.cpu.postgres);
      figures.ofPiped.push(piped.ms / backup.ms);
      figures.hand.push(hand.ms);
      figures.handNodeCpu.push(hand.cpu.node);
      figures.handPgCpu.push(hand.cpu.postgres);
      figures.backupNodeCpu.push(backup.cpu.node);
      figures.backupPgCpu.push(backup.cpu.postgres);
      figures.handGzip.push(handGzip.ms);
      figures.backupGzip.push(backupGzipAfter.ms);
      figures.ofRaw.push(hand.ms / backup.ms);
      figures.ofRawGzip.push(hand.ms / backupGzipAfter.ms);
      figures.verifyOne.push(verifyOne.ms);
      figures.verifyTwo.push(verifyTwo.ms);
      figures.backup.push(backup.ms);
      figures.load.push(load.ms);
      figures.restore.push(restore.ms);
      figures.hold.push(restore.value.restore.writesHeldMs);
      rows.push([
        `run ${run}`,
        ms(piped.ms),
        ms(hand.ms),
        ms(handGzip.ms),
        ms(backup.ms),
        ms(backupGzipAfter.ms),
        ms(load.ms),
        ms(restore.ms),
        String(restore.value.restore.writesHeldMs),
        (piped.ms / backup.ms).toFixed(2),
        (hand.ms / backup.ms).toFixed(2),
        (hand.ms / backupGzipAfter.ms).toFixed(2),
      ]);
      process.stderr.write(`run ${run}/${runs} done\n`);
    }
    const textMb = text.bytes / 1e6;
    const rate = (millis: number) => `${(textMb / (millis / 1000)).toFixed(1)} MB/s, ${Math.round(text.rows / (millis / 1000))} rows/s`;
    console.log(`\nbench:backup — ${machineInfo()}`);
    console.log(await serverInfo(admin));
    console.log(
      `company: ${text.rows} rows, ${textMb.toFixed(1)} MB of COPY text; archive ${(archiveBytes.brotli / 1e6).toFixed(1)} MB (brotli), ${(archiveBytes.gzip / 1e6).toFixed(1)} MB (gzip)\n`,
    );
    console.log(
      formatTable(
        [
          'ms',
          'COPY out piped',
          'COPY out by hand',
          'COPY out + gzip by hand',
          'Silo backup',
          'Silo backup, gzip',
          'COPY in by hand',
          'Silo restore',
          'writes held',
          'backup / piped',
          'backup / raw',
          'gzip backup / raw',
        ],
        rows,
      ),
    );
    const m = Object.fromEntries(Object.entries(figures).map(([k, v]) => [k, median(v)])) as Record<keyof typeof figures, number>;
    console.log(`\nmedians of ${runs} runs:`);
    console.log(
      formatTable(
        ['', 'median ms', 'throughput', 'Silo / by hand'],
        [
          ['COPY out piped to files (no row count)', ms(m.piped), rate(m.piped), ''],
          ['COPY out by hand (raw file)', ms(m.hand), rate(m.hand), ''],
          ['COPY out + gzip by hand', ms(m.handGzip), rate(m.handGzip), ''],
          [
            'Silo backup (brotli)',
            ms(m.backup),
            rate(m.backup),
            `${(m.piped / m.backup).toFixed(2)} of piped, ${(m.hand / m.backup).toFixed(2)} of raw, ${(m.handGzip / m.backup).toFixed(2)} of gzip`,
          ],
          [
            'Silo backup, gzip codec',
            ms(m.backupGzip),
            rate(m.backupGzip),
            `${(m.hand / m.backupGzip).toFixed(2)} of raw, ${(m.handGzip / m.backupGzip).toFixed(2)} of gzip`,
          ],
          ['COPY in by hand', ms(m.load), rate(m.load), ''],
          ['Silo restore (whole)', ms(m.restore), rate(m.restore), `${(m.load / m.restore).toFixed(2)}`],
          ['writes held by the restore', ms(m.hold), '', ''],
          [
            "median of the runs' own ratios",
            '',
            '',
            `brotli ${m.ofPiped.toFixed(2)} of piped, ${m.ofRaw.toFixed(2)} of raw; gzip ${m.ofRawGzip.toFixed(2)} of raw`,
          ],
          ["a restore's check, format 1 (SQL md5 per row)", ms(m.verifyOne), rate(m.verifyOne), ''],
          ["a restore's check, format 2 (COPY read back)", ms(m.verifyTwo), rate(m.verifyTwo), ''],
        ],
      ),
    );
    // Both sides of each pipe share the machine's cores: CPU over wall time says how many were busy,
    // and how much a step could gain from more overlap on this machine.
    const cores = (node: number, pg: number, wall: number) => (Number.isNaN(pg) ? '' : ((node + pg) / wall).toFixed(2));
    const pg = (value: number) => (Number.isNaN(value) ? 'n/a (not embedded)' : ms(value));
    console.log(`\nCPU time (medians of ${runs} runs; PostgreSQL: the embedded server's processes, in 10 ms ticks):`);
    console.log(
      formatTable(
        ['', 'Node ms', 'PostgreSQL ms', 'cores busy'],
        [
          ['COPY out piped (no row count)', ms(m.pipedNodeCpu), pg(m.pipedPgCpu), cores(m.pipedNodeCpu, m.pipedPgCpu, m.piped)],
          ['COPY out by hand (raw file)', ms(m.handNodeCpu), pg(m.handPgCpu), cores(m.handNodeCpu, m.handPgCpu, m.hand)],
          ['Silo backup (brotli)', ms(m.backupNodeCpu), pg(m.backupPgCpu), cores(m.backupNodeCpu, m.backupPgCpu, m.backup)],
        ],
      ),
    );
  } finally {
    await bench.close();
    await server.stop();
    rmSync(work, { recursive: true, force: true });
  }
}

runBench(main);
