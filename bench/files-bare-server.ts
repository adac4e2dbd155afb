// A bare node:http server for bench/files.ts: what moving a file through HTTP on this machine costs
// with none of Silo (no routing, token, database or quota), doing only what an upload must do with
// the bytes (SHA-256 on the way in, the same atomic write) and what a download must (the file
// piped to the socket). Its rows explain the gap between Silo and the direct path; the ratio that
// counts is still Silo's against the direct path.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { writeFileAtomically } from '../src/base/atomic-write.ts';

export interface BareServer {
  /** `${url}/<name>`: POST stores the body under that name, GET answers it. */
  url: string;
  close(): Promise<void>;
}

/** Serves files in `folder` (which must exist) on 127.0.0.1. */
export async function startBareServer(folder: string): Promise<BareServer> {
  const server: Server = createServer((req, res) => {
    const path = join(folder, (req.url ?? '/').slice(1).replace(/[^\w.-]/g, '_'));
    const answer = async () => {
      if (req.method === 'POST') {
        const hash = createHash('sha256');
        const hashed = new Transform({
          transform(chunk: Buffer, _encoding, done) {
            hash.update(chunk);
            done(null, chunk);
          },
        });
        await writeFileAtomically(path, `${path}.tmp`, req.pipe(hashed));
        res.writeHead(201, { 'content-type': 'application/json' }).end(JSON.stringify({ sha256: hash.digest('hex') }));
      } else {
        const { size } = await stat(path);
        res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(size) });
        await pipeline(createReadStream(path, { highWaterMark: 1024 * 1024 }), res);
      }
    };
    answer().catch((error: Error) => res.writeHead(500).end(error.message));
  });
  await new Promise<void>((listening) => server.listen(0, '127.0.0.1', listening));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => new Promise((closed) => server.close(() => closed())),
  };
}
