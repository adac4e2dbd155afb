// GET /docs: Swagger UI for /openapi.json. Its script, stylesheet and icon come from the
// swagger-ui-dist package and are served by Silo itself (not a CDN), so the page works on a
// machine without internet access.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { secureHeaders } from 'hono/secure-headers';
import { SiloError } from '../base/errors.ts';
import type { App } from './env.ts';

const distDir = dirname(createRequire(import.meta.url).resolve('swagger-ui-dist/package.json'));
const { version } = JSON.parse(readFileSync(join(distDir, 'package.json'), 'utf8')) as { version: string };

// The version is part of the URL, so a browser may keep an asset for a year: upgrading
// swagger-ui-dist changes the URL, never the bytes behind a URL it has already cached.
const assetBase = `/docs/assets/${version}`;
const cacheControl = 'public, max-age=31536000, immutable';

// The only files served. A request names one of these or gets a 404: no request path ever
// reaches the file system, so there is nothing to traverse.
const assetTypes = new Map([
  ['swagger-ui-bundle.js', 'text/javascript; charset=utf-8'],
  ['swagger-ui.css', 'text/css; charset=utf-8'],
  ['favicon-32x32.png', 'image/png'],
]);

// Read on first request, then kept in memory (about 1.9 MB in all): a process that never serves
// /docs never reads them.
const loaded = new Map<string, Promise<Uint8Array<ArrayBuffer>>>();
function load(name: string): Promise<Uint8Array<ArrayBuffer>> {
  let body = loaded.get(name);
  if (!body) {
    // Copied once into a plain Uint8Array, the body type Hono accepts.
    body = readFile(join(distDir, name)).then((bytes) => new Uint8Array(bytes));
    loaded.set(name, body);
  }
  return body;
}

// The default layout needs only the bundle (no standalone preset, which adds the top bar).
const initScript = `
      window.ui = SwaggerUIBundle({ url: '/openapi.json', dom_id: '#swagger-ui' });
    `;
const page = `<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8" />
    <meta name="viewport" content="width=device-width, initial-scale=1" />
    <title>Silo API</title>
    <link rel="icon" type="image/png" href="${assetBase}/favicon-32x32.png" />
    <link rel="stylesheet" href="${assetBase}/swagger-ui.css" />
  </head>
  <body>
    <div id="swagger-ui"></div>
    <script src="${assetBase}/swagger-ui-bundle.js"></script>
    <script>${initScript}</script>
  </body>
</html>
`;

// The page may run Silo's own scripts and its one inline script (by hash), fetch only from Silo,
// and be framed by no one (clickjacking). Swagger UI sets inline styles and uses data: images.
const docsHeaders = secureHeaders({
  contentSecurityPolicy: {
    defaultSrc: ["'self'"],
    scriptSrc: ["'self'", `'sha256-${createHash('sha256').update(initScript).digest('base64')}'`],
    styleSrc: ["'self'", "'unsafe-inline'"],
    imgSrc: ["'self'", 'data:'],
    connectSrc: ["'self'"],
    objectSrc: ["'none'"],
    baseUri: ["'none'"],
    formAction: ["'self'"],
    frameAncestors: ["'none'"],
  },
  xFrameOptions: 'DENY',
  // Silo may be served over plain HTTP on a private network; HSTS is the TLS terminator's call.
  strictTransportSecurity: false,
});

export function registerDocs(app: App) {
  app.use('/docs', docsHeaders);
  app.use('/docs/*', docsHeaders);
  app.get('/docs', (c) => c.html(page));
  app.get(`${assetBase}/:name`, async (c) => {
    const name = c.req.param('name');
    const type = assetTypes.get(name);
    if (!type) throw new SiloError('not_found', 'no such route');
    return c.body(await load(name), 200, { 'Content-Type': type, 'Cache-Control': cacheControl });
  });
}
