// How fast document files go in and out through Silo, against the same bytes written to and read
// from disk directly in the same run, and whether memory stays flat while a 50 MB file passes.
//
//   npm run bench:files [-- --runs N]     runs per size (default 5 for 50 MB, 4x that for 1 MB; or BENCH_RUNS)
//   BENCH_DATABASE_URL=postgres://...     the server (an admin login) instead of an embedded one
//
// Silo's path: an HTTP upload (POST with a Content-Length, body streamed) to a Silo on 127.0.0.1,
// which hashes it, writes it to a temporary file, fsyncs and renames it, and records the row; and
// an HTTP download of it; the client is a process of its own (files-client.ts), as a user's is.
// The baseline: the same bytes from the same generator written with the same atomic write Silo uses
// (src/base/atomic-write.ts: fsync of the file, rename, fsync of the folder), and that file read
// back, with no HTTP, hash or database. Rows marked (info) explain the gap and are no baseline: the
// direct write hashing too, and a bare node:http server (files-bare-server.ts) doing only the hash
// and the same write, or piping the file back. Each row has the CPU time this process (Silo's, with
// its thread pool) used per transfer, and RSS is sampled every 10 ms during each transfer. Results
// and their reading: docs/files.md.
import { fork } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { serve } from '@hono/node-server';
import { writeFileAtomically } from '../src/base/atomic-write.ts';
import { createSystemAdmin } from '../src/control-plane/system-users.ts';
import { createApp } from '../src/http/app.ts';
import { fileBytes } from '../test/support/file-bytes.ts';
import { startBareServer } from './files-bare-server.ts';
import type { FilesJob, FilesJobResult } from './files-client.ts';
import { formatTable, intOption, machineInfo, median, openBenchSilo, runBench, startBenchServer } from './support.ts';

const MB = 1024 * 1024;

/**
 * Runs `work` while sampling this process's RSS (Silo's, not the client's); answers its time in ms
 * (the client's own measure when `work` answers one), the CPU this process used meanwhile (all its
 * threads: the event loop and the thread pool's writes) and the most RSS grew above its start.
 */
async function measured(work: () => Promise<number | undefined>): Promise<Measure> {
  const start = process.memoryUsage.rss();
  let peak = start;
  const timer = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage.rss());
  }, 10);
  const cpuBefore = process.cpuUsage();
  const began = performance.now();
  let timed: number | undefined;
  try {
    timed = await work();
  } finally {
    clearInterval(timer);
  }
  const ms = timed ?? performance.now() - began;
  const cpu = process.cpuUsage(cpuBefore);
  peak = Math.max(peak, process.memoryUsage.rss());
  return { ms, cpuMs: (cpu.user + cpu.system) / 1000, rssGrowth: peak - start };
}

interface Measure {
  ms: number;
  cpuMs: number;
  rssGrowth: number;
}

async function drain(body: AsyncIterable<Uint8Array> | null): Promise<number> {
  let n = 0;
  for await (const chunk of body ?? []) n += chunk.length;
  return n;
}

/** `chunks` hashed (SHA-256) as they pass, as an upload's are. */
async function* hashed(chunks: AsyncIterable<Uint8Array>): AsyncGenerator<Uint8Array> {
  const hash = createHash('sha256');
  for await (const chunk of chunks) {
    hash.update(chunk);
    yield chunk;
  }
  hash.digest();
}

type PathKey = 'directWrite' | 'directHashedWrite' | 'bareUpload' | 'upload' | 'directRead' | 'bareDownload' | 'download';

/** The rows of the table, in order; `against`: the direct path a Silo row's ratio is measured against. */
const PATHS: { key: PathKey; kind: 'write' | 'read'; label: string; against?: PathKey }[] = [
  { key: 'directWrite', kind: 'write', label: 'direct write (fsync, rename)' },
  { key: 'directHashedWrite', kind: 'write', label: '(info) direct write + SHA-256' },
  { key: 'bareUpload', kind: 'write', label: '(info) bare node:http upload' },
  { key: 'upload', kind: 'write', label: 'Silo upload (HTTP)', against: 'directWrite' },
  { key: 'directRead', kind: 'read', label: 'direct read' },
  { key: 'bareDownload', kind: 'read', label: '(info) bare node:http download' },
  { key: 'download', kind: 'read', label: 'Silo download (HTTP)', against: 'directRead' },
];

/** The client process (files-client.ts): one job at a time. */
function startClient() {
  const child = fork(fileURLToPath(new URL('./files-client.ts', import.meta.url)), [], { execArgv: ['--import', 'tsx'] });
  return {
    run: (job: FilesJob) =>
      new Promise<FilesJobResult>((resolve, reject) => {
        const failed = (code: number | null) => reject(new Error(`the client exited (${code})`));
        child.once('exit', failed);
        child.once('message', (result) => {
          child.off('exit', failed);
          resolve(result as FilesJobResult);
        });
        child.send(job);
      }),
    stop: () => child.kill(),
  };
}

async function main() {
  const runsLarge = intOption('runs', 'BENCH_RUNS', 5);
  const server = await startBenchServer();
  const work = mkdtempSync(join(tmpdir(), 'silo-bench-files-'));
  const bench = await openBenchSilo(server.url, { SILO_FILES_DIR: join(work, 'files'), SILO_FILE_MAX_BYTES: String(200 * MB) });
  let http: ReturnType<typeof serve> | undefined;
  const client = startClient();
  const bareFolder = join(work, 'bare');
  mkdirSync(bareFolder);
  const bare = await startBareServer(bareFolder);
  try {
    http = await new Promise<ReturnType<typeof serve>>((resolve) => {
      const started = serve({ fetch: createApp(bench.silo.ctx).fetch, port: 0, hostname: '127.0.0.1' }, () => resolve(started));
    });
    const base = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
    console.error('silo ready; creating the company');
    const post = async (path: string, token: string | null, body: unknown) => {
      const res = await fetch(`${base}${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
        body: JSON.stringify(body),
      });
      return res.json();
    };
    const admin = { email: 'boss@bench-files.test', password: 'bench-password' };
    const operator = await createSystemAdmin(bench.silo.ctx, { email: 'ops@bench-files.test', password: 'bench-password' });
    const adminToken = (await bench.silo.ctx.tokens.issue({ sub: operator.id, role: 'system_admin' })).token;
    await post('/api/companies', adminToken, { name: 'bench-files', slug: 'bench-files', admin });
    const token = (await post('/api/auth/login', null, { ...admin, company: 'bench-files' })).token as string;
    const document = (await post('/api/documents', token, { title: 'Bench', content: 'files' })).id as string;

    console.log(machineInfo());
    const rows: string[][] = [];
    for (const size of [1 * MB, 50 * MB]) {
      const runs = size === MB ? runsLarge * 4 : runsLarge;
      const { chunks } = fileBytes(size);
      const measures = Object.fromEntries(PATHS.map((p) => [p.key, [] as Measure[]])) as Record<PathKey, Measure[]>;
      const viaClient = async (job: FilesJob) => {
        const { ms, answer } = await client.run(job);
        const ok = job.kind === 'upload' ? 'status' in answer && answer.status === 201 : 'bytes' in answer && answer.bytes === size;
        if (!ok) throw new Error(`${job.kind} of ${job.url} answered ${JSON.stringify(answer)}`);
        return { ms, answer };
      };
      for (let run = 0; run <= runs; run++) {
        console.error(`${size / MB} MB, run ${run}`);
        const path = join(work, `direct-${run}`);
        const hashedPath = join(work, `direct-hashed-${run}`);
        let fileId = '';
        const step: Record<PathKey, () => Promise<number | undefined>> = {
          directWrite: async () => void (await writeFileAtomically(path, `${path}.tmp`, chunks())),
          directHashedWrite: async () => void (await writeFileAtomically(hashedPath, `${hashedPath}.tmp`, hashed(chunks()))),
          bareUpload: async () => (await viaClient({ kind: 'upload', url: `${bare.url}/bare-${run}`, token: '', size })).ms,
          upload: async () => {
            const { ms, answer } = await viaClient({
              kind: 'upload',
              url: `${base}/api/documents/${document}/files?name=bench.bin`,
              token,
              size,
            });
            fileId = JSON.parse((answer as { body: string }).body).id;
            return ms;
          },
          directRead: async () => void (await drain(createReadStream(path))),
          bareDownload: async () => (await viaClient({ kind: 'download', url: `${bare.url}/bare-${run}`, token: '', size })).ms,
          download: async () =>
            (await viaClient({ kind: 'download', url: `${base}/api/documents/${document}/files/${fileId}`, token, size })).ms,
        };
        // Writes first (the reads need them); within each, the order is reversed every other run.
        for (const kind of ['write', 'read'] as const) {
          const paths = PATHS.filter((p) => p.kind === kind);
          for (const { key } of run % 2 === 0 ? paths : paths.reverse()) {
            const result = await measured(step[key]);
            // Run 0 warms up and is not counted.
            if (run > 0) measures[key].push(result);
          }
        }
        for (const done of [path, hashedPath, join(bareFolder, `bare-${run}`)]) rmSync(done, { force: true });
      }
      const label = `${size / MB} MB`;
      for (const { key, label: name, against } of PATHS) {
        const ms = median(measures[key].map((m) => m.ms));
        const ratio = against ? (median(measures[against].map((m) => m.ms)) / ms).toFixed(2) : '';
        const cpu = median(measures[key].map((m) => m.cpuMs)).toFixed(1);
        const rss = `${(Math.max(...measures[key].map((m) => m.rssGrowth)) / MB).toFixed(1)} MB`;
        rows.push([label, name, ms.toFixed(1), `${((size / MB / ms) * 1000).toFixed(0)} MB/s`, ratio, cpu, rss]);
      }
      console.error(`${label}: ${runs} runs counted (medians)`);
    }
    console.log(formatTable(['size', 'path', 'median ms', 'throughput', 'Silo / direct', 'CPU ms', 'max RSS growth'], rows));
  } finally {
    client.stop();
    await bare.close();
    await new Promise((resolve) => (http ? http.close(resolve) : resolve(undefined)));
    await bench.close();
    await server.stop();
    rmSync(work, { recursive: true, force: true });
  }
}

runBench(main);
