// How close can any server get to the direct path on this machine? An experiment beside
// bench/files.ts (no Silo, no database): bare node:http servers, fed by the same client process
// (files-client.ts), doing only what an upload must do with the bytes (SHA-256 and the same atomic
// write) or a download (the file's bytes to the socket), in the variants that could be faster:
//
//   upload, hash inline          the SHA-256 on the event loop, as Silo does it
//   upload, hash on a worker     each chunk posted to a worker thread that hashes it, overlapping
//                                the socket reads and the writes on the event loop
//   upload, no hash              the floor of an HTTP upload (not allowed: an upload must hash)
//   download, streamed           a read stream of 1 MB chunks piped to the response
//   download, one write          (1 MB) the file read whole and answered with one end()
//
// against the direct write and read of the same bytes in the same run, in alternating order.
//
//   npx tsx bench/files-ceiling.ts [--runs N]   runs per size (default 5 for 50 MB, 4x that for 1 MB)
//
// Results and their reading: docs/files.md ("Performance", "The ceiling").
import { fork } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { writeFileAtomically } from '../src/base/atomic-write.ts';
import { fileBytes } from '../test/support/file-bytes.ts';
import type { FilesJob, FilesJobResult } from './files-client.ts';
import { formatTable, intOption, machineInfo, median, runBench } from './support.ts';

const MB = 1024 * 1024;

// The worker: hashes what it is sent; 'end' answers the digest and starts a new hash.
const HASHER = `
const { parentPort } = require('node:worker_threads');
const { createHash } = require('node:crypto');
let hash = createHash('sha256');
parentPort.on('message', (message) => {
  if (message !== 'end') return hash.update(message);
  parentPort.postMessage(hash.digest('hex'));
  hash = createHash('sha256');
});`;

/** SHA-256 on the event loop or on `worker`, as a Transform that passes the bytes on. */
function hasher(worker: Worker | undefined): { meter: Transform; digest: () => Promise<string> } {
  const hash = createHash('sha256');
  const meter = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      // Posting copies the chunk (it is still to be written here); the worker hashes the copy.
      if (worker) worker.postMessage(chunk);
      else hash.update(chunk);
      done(null, chunk);
    },
  });
  const digest = () =>
    worker
      ? new Promise<string>((resolve) => {
          worker.once('message', resolve);
          worker.postMessage('end');
        })
      : Promise.resolve(hash.digest('hex'));
  return { meter, digest };
}

type Variant = 'inline' | 'worker' | 'nohash' | 'stream' | 'onewrite';

async function startServer(folder: string, worker: Worker) {
  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const [, variant, name] = (req.url ?? '').split('/') as [string, Variant, string];
    const path = join(folder, name.replace(/[^\w.-]/g, '_'));
    if (req.method === 'POST') {
      const { meter, digest } =
        variant === 'nohash' ? { meter: undefined, digest: async () => '' } : hasher(variant === 'worker' ? worker : undefined);
      await writeFileAtomically(path, `${path}.tmp`, meter ? req.pipe(meter) : req);
      res.writeHead(201, { 'content-type': 'application/json' }).end(JSON.stringify({ sha256: await digest() }));
    } else if (variant === 'onewrite') {
      const bytes = await readFile(path);
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(bytes.length) }).end(bytes);
    } else {
      const { size } = await stat(path);
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(size) });
      await pipeline(createReadStream(path, { highWaterMark: MB }), res);
    }
  };
  const server = createServer((req, res) => void handle(req, res).catch((error: Error) => res.writeHead(500).end(error.message)));
  await new Promise<void>((listening) => server.listen(0, '127.0.0.1', listening));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, close: () => new Promise((closed) => server.close(closed)) };
}

function startClient() {
  const child = fork(fileURLToPath(new URL('./files-client.ts', import.meta.url)), [], { execArgv: ['--import', 'tsx'] });
  const run = (job: FilesJob) =>
    new Promise<FilesJobResult>((resolve) => {
      child.once('message', (result) => resolve(result as FilesJobResult));
      child.send(job);
    });
  return { run, stop: () => child.kill() };
}

async function drain(path: string): Promise<void> {
  for await (const _ of createReadStream(path)) {
  }
}

async function main() {
  const runsLarge = intOption('runs', 'BENCH_RUNS', 5);
  const folder = mkdtempSync(join(tmpdir(), 'silo-bench-ceiling-'));
  const worker = new Worker(HASHER, { eval: true });
  const server = await startServer(folder, worker);
  const client = startClient();
  try {
    console.log(machineInfo());
    const rows: string[][] = [];
    for (const size of [MB, 50 * MB]) {
      const runs = size === MB ? runsLarge * 4 : runsLarge;
      const { chunks } = fileBytes(size);
      const digests = new Map<string, string>();
      const writes: [string, (run: number) => Promise<number>][] = [
        ['direct write', async (run) => time(() => writeFileAtomically(join(folder, `d${run}`), join(folder, `d${run}.tmp`), chunks()))],
        ...(['inline', 'worker', 'nohash'] as const).map((v): [string, (run: number) => Promise<number>] => [
          `upload, ${{ inline: 'hash inline', worker: 'hash on a worker', nohash: 'no hash' }[v]}`,
          async (run) => {
            const { ms, answer } = await client.run({ kind: 'upload', url: `${server.url}/${v}/${v}${run}`, token: '', size });
            // The client makes its own bytes: a worker's digest must be the inline one of the same bytes.
            const digest = (JSON.parse((answer as { body: string }).body) as { sha256: string }).sha256;
            if (v !== 'nohash') {
              const other = digests.get(`${v === 'worker' ? 'inline' : 'worker'}${run}`);
              if (other && other !== digest) throw new Error('the worker hashed to another SHA-256');
              digests.set(`${v}${run}`, digest);
            }
            return ms;
          },
        ]),
      ];
      const reads: [string, (run: number) => Promise<number>][] = [
        ['direct read', async (run) => time(() => drain(join(folder, `d${run}`)))],
        ...(size === MB ? (['stream', 'onewrite'] as const) : (['stream'] as const)).map(
          (v): [string, (run: number) => Promise<number>] => [
            `download, ${v === 'stream' ? 'streamed' : 'one write'}`,
            async (run) => (await client.run({ kind: 'download', url: `${server.url}/${v}/inline${run}`, token: '', size })).ms,
          ],
        ),
      ];
      const times = new Map<string, number[]>();
      for (let run = 0; run <= runs; run++) {
        for (const steps of [writes, reads]) {
          for (const [label, step] of run % 2 === 0 ? steps : [...steps].reverse()) {
            const ms = await step(run);
            // Run 0 warms up and is not counted.
            if (run > 0) times.set(label, [...(times.get(label) ?? []), ms]);
          }
        }
        for (const name of readdirSync(folder)) rmSync(join(folder, name), { force: true });
      }
      for (const [steps, direct] of [
        [writes, 'direct write'],
        [reads, 'direct read'],
      ] as const) {
        const base = median(times.get(direct)!);
        for (const [label] of steps) {
          const ms = median(times.get(label)!);
          rows.push([`${size / MB} MB`, label, ms.toFixed(1), label === direct ? '' : (base / ms).toFixed(2)]);
        }
      }
    }
    console.log(formatTable(['size', 'path', 'median ms', 'server / direct'], rows));
  } finally {
    client.stop();
    await server.close();
    await worker.terminate();
    rmSync(folder, { recursive: true, force: true });
  }
}

async function time(work: () => Promise<unknown>): Promise<number> {
  const began = performance.now();
  await work();
  return performance.now() - began;
}

runBench(main);
