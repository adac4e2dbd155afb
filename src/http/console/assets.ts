// The console's static files: htmx from its npm package, and the console's own stylesheet and
// script from assets/console/ (found from this file like ../migrations is, so from dist/ too).
// Every URL carries a version (htmx's package version, a hash of our own files), so a browser may
// keep them for a year: a new release changes the URL, never the bytes behind a cached one.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Web } from './env.ts';
import { SiloError } from '../../base/errors.ts';

const htmxDir = join(dirname(createRequire(import.meta.url).resolve('htmx.org/package.json')), 'dist');
const ownDir = fileURLToPath(new URL('../../../assets/console/', import.meta.url));
const cacheControl = 'public, max-age=31536000, immutable';

interface Asset {
  url: string;
  type: string;
  body: Uint8Array<ArrayBuffer>;
}

// Read once at start (about 60 kB in all): a request names one of these or gets a 404, so no
// request path ever reaches the file system.
function asset(path: string, type: string, version?: string): Asset {
  const body = new Uint8Array(readFileSync(path));
  const tag = version ?? createHash('sha256').update(body).digest('hex').slice(0, 12);
  return { url: `/console/assets/${tag}/${path.split('/').at(-1)}`, type, body };
}

const htmxVersion = (JSON.parse(readFileSync(join(htmxDir, '..', 'package.json'), 'utf8')) as { version: string }).version;

export const assets = {
  htmx: asset(join(htmxDir, 'htmx.min.js'), 'text/javascript; charset=utf-8', htmxVersion),
  script: asset(join(ownDir, 'console.js'), 'text/javascript; charset=utf-8'),
  style: asset(join(ownDir, 'console.css'), 'text/css; charset=utf-8'),
};

const byUrl = new Map(Object.values(assets).map((a) => [a.url, a]));

export function registerAssets(web: Web) {
  web.get('/assets/:version/:name', (c) => {
    const found = byUrl.get(c.req.path);
    if (!found) throw new SiloError('not_found', 'no such asset');
    return c.body(found.body, 200, { 'Content-Type': found.type, 'Cache-Control': cacheControl });
  });
}
