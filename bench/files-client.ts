// The HTTP client of bench/files.ts, in a child process of its own: a browser or a script uploading
// a file never shares Silo's event loop, and in one process the client's own sending and reading
// (fetch, web streams) cost as much as the server's whole work. node:http, bodies streamed: an
// upload sends the generator's chunks as they are produced, a download reads to the end. The parent
// sends one FilesJob at a time over IPC and gets its time, measured here from the request's start
// to the response's end.
import { request } from 'node:http';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { fileBytes } from '../test/support/file-bytes.ts';

export type FilesJob =
  | { kind: 'upload'; url: string; token: string; size: number }
  | { kind: 'download'; url: string; token: string; size: number };

export interface FilesJobResult {
  ms: number;
  /** The upload's answer (the file), or the number of bytes downloaded. */
  answer: { status: number; body: string } | { bytes: number };
}

function send(job: FilesJob): Promise<FilesJobResult> {
  const source = job.kind === 'upload' ? Readable.from(fileBytes(job.size).chunks()) : undefined;
  const began = performance.now();
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { authorization: `Bearer ${job.token}` };
    if (job.kind === 'upload') Object.assign(headers, { 'content-type': 'application/octet-stream', 'content-length': String(job.size) });
    const req = request(job.url, { method: job.kind === 'upload' ? 'POST' : 'GET', headers }, (res) => {
      let bytes = 0;
      const body: Buffer[] = [];
      res.on('data', (chunk: Buffer) => {
        bytes += chunk.length;
        if (job.kind === 'upload') body.push(chunk);
      });
      res.on('error', reject);
      res.on('end', () => {
        const ms = performance.now() - began;
        resolve({ ms, answer: job.kind === 'upload' ? { status: res.statusCode ?? 0, body: Buffer.concat(body).toString() } : { bytes } });
      });
    });
    req.on('error', reject);
    if (source) pipeline(source, req).catch(reject);
    else req.end();
  });
}

process.on('message', (job: FilesJob) => {
  send(job).then(
    (result) => process.send!(result),
    (error: unknown) => {
      console.error(error);
      process.exit(1);
    },
  );
});
