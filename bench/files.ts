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
// back, with no HTTP, hash or database. RSS of the Silo process is sampled every 10 ms during each
// transfer. Results and their reading: docs/files.md.
import { fork } from 'node:child_process';
import { createReadStream, mkdtempSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { serve } from '@hono/node-server';
import { writeFileAtomically } from '../src/base/atomic-write.ts';
import { createSystemAdmin } from '../src/control-plane/system-users.ts';
import { createApp } from '../src/http/app.ts';
import { fileBytes } from '../test/support/file-bytes.ts';
import type { FilesJob, FilesJobResult } from './files-client.ts';
import { formatTable, intOption, machineInfo, median, openBenchSilo, startBenchServer } from './support.ts';

const MB = 1024 * 1024;

/**
 * Runs `work` while sampling this process's RSS (Silo's, not the client's); answers its time in ms
 * (the client's own measure when `work` answers one) and the most RSS grew above its start.
 */
async function measured(work: () => Promise<number | undefined>): Promise<{ ms: number; rssGrowth: number }> {
  const start = process.memoryUsage.rss();
  let peak = start;
  const timer = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage.rss());
  }, 10);
  const began = performance.now();
  let timed: number | undefined;
  try {
    timed = await work();
  } finally {
    clearInterval(timer);
  }
  const ms = timed ?? performance.now() - began;
  peak = Math.max(peak, process.memoryUsage.rss());
  return { ms, rssGrowth: peak - start };
}

async function drain(body: AsyncIterable<Uint8Array> | null): Promise<number> {
  let n = 0;
  for await (const chunk of body ?? []) n += chunk.length;
  return n;
}

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
      const times: Record<'directWrite' | 'directRead' | 'upload' | 'download', number[]> = {
        directWrite: [],
        directRead: [],
        upload: [],
        download: [],
      };
      const rss: Record<keyof typeof times, number[]> = { directWrite: [], directRead: [], upload: [], download: [] };
      for (let run = 0; run <= runs; run++) {
        console.error(`${size / MB} MB, run ${run}`);
        const path = join(work, `direct-${run}`);
        let fileId = '';
        const steps: [keyof typeof times, () => Promise<number | undefined>][] = [
          ['directWrite', async () => void (await writeFileAtomically(path, `${path}.tmp`, chunks()))],
          ['directRead', async () => void (await drain(createReadStream(path)))],
          [
            'upload',
            async () => {
              const { ms, answer } = await client.run({
                kind: 'upload',
                url: `${base}/api/documents/${document}/files?name=bench.bin`,
                token,
                size,
              });
              if (!('status' in answer) || answer.status !== 201) throw new Error(`upload answered ${JSON.stringify(answer)}`);
              fileId = JSON.parse(answer.body).id;
              return ms;
            },
          ],
          [
            'download',
            async () => {
              const { ms, answer } = await client.run({
                kind: 'download',
                url: `${base}/api/documents/${document}/files/${fileId}`,
                token,
                size,
              });
              if (!('bytes' in answer) || answer.bytes !== size) throw new Error('short download');
              return ms;
            },
          ],
        ];
        // Writes first (the reads need them); within each pair the order alternates by run.
        const ordered = run % 2 === 0 ? steps : [steps[2]!, steps[3]!, steps[0]!, steps[1]!];
        for (const [name, step] of ordered) {
          const result = await measured(step);
          // Run 0 warms up and is not counted.
          if (run > 0) {
            times[name].push(result.ms);
            rss[name].push(result.rssGrowth);
          }
        }
        rmSync(path, { force: true });
      }
      const label = `${size / MB} MB`;
      const rate = (ms: number) => `${((size / MB / ms) * 1000).toFixed(0)} MB/s`;
      const m = (k: keyof typeof times) => median(times[k]);
      const maxRss = (k: keyof typeof times) => `${(Math.max(...rss[k]) / MB).toFixed(1)} MB`;
      rows.push([label, 'direct write (fsync, rename)', m('directWrite').toFixed(1), rate(m('directWrite')), '', maxRss('directWrite')]);
      rows.push([
        label,
        'Silo upload (HTTP)',
        m('upload').toFixed(1),
        rate(m('upload')),
        (m('directWrite') / m('upload')).toFixed(2),
        maxRss('upload'),
      ]);
      rows.push([label, 'direct read', m('directRead').toFixed(1), rate(m('directRead')), '', maxRss('directRead')]);
      rows.push([
        label,
        'Silo download (HTTP)',
        m('download').toFixed(1),
        rate(m('download')),
        (m('directRead') / m('download')).toFixed(2),
        maxRss('download'),
      ]);
      console.error(`${label}: ${runs} runs counted (medians)`);
    }
    console.log(formatTable(['size', 'path', 'median ms', 'throughput', 'Silo / direct', 'max RSS growth'], rows));
  } finally {
    client.stop();
    await new Promise((resolve) => (http ? http.close(resolve) : resolve(undefined)));
    await bench.close();
    await server.stop();
    rmSync(work, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
