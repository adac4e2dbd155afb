// /docs works without internet: Swagger UI's page references only assets Silo serves itself,
// from a fixed allow-list, and anything else under /docs/assets is the API's 404.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestSilo, type TestSilo } from './support/test-silo.ts';

let t: TestSilo;
beforeAll(async () => {
  t = await createTestSilo();
});
afterAll(async () => {
  await t?.close();
});

const expectedTypes: Record<string, string> = {
  'swagger-ui-bundle.js': 'text/javascript; charset=utf-8',
  'swagger-ui.css': 'text/css; charset=utf-8',
  'favicon-32x32.png': 'image/png',
};

async function docsPage() {
  const res = await t.app.request('/docs');
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^text\/html/);
  const html = await res.text();
  const urls = [...html.matchAll(/\b(?:src|href)="([^"]*)"/g)].map((match) => match[1]!);
  return { html, urls };
}

describe('/docs', () => {
  it('serves a page that loads only local assets and points at /openapi.json', async () => {
    const { html, urls } = await docsPage();
    expect(html).not.toMatch(/https?:\/\//);
    expect(html).toContain("url: '/openapi.json'");
    expect(urls.length).toBe(3);
    for (const url of urls) expect(url).toMatch(/^\/docs\/assets\/\d+\.\d+\.\d+\/[\w.-]+$/);
    expect(urls.map((url) => url.split('/').pop()).sort()).toEqual(Object.keys(expectedTypes).sort());
  });

  it('serves every referenced asset with its type and a long immutable cache', async () => {
    const { urls } = await docsPage();
    for (const url of urls) {
      const res = await t.app.request(url);
      expect(res.status, url).toBe(200);
      expect(res.headers.get('content-type'), url).toBe(expectedTypes[url.split('/').pop()!]);
      expect(res.headers.get('cache-control'), url).toBe('public, max-age=31536000, immutable');
      expect((await res.arrayBuffer()).byteLength, url).toBeGreaterThan(0);
    }
  });

  it('answers anything else under /docs/assets with the error shape', async () => {
    const { urls } = await docsPage();
    const base = urls[0]!.slice(0, urls[0]!.lastIndexOf('/'));
    const paths = [
      '/docs/assets/../package.json',
      '/docs/assets/%2e%2e/x',
      '/docs/assets/swagger-ui.css',
      '/docs/assets/0.0.0/swagger-ui.css',
      `${base}/index.html`,
      `${base}/swagger-ui-bundle.js.map`,
      `${base}/..%2f..%2fpackage.json`,
      `${base}/%2e%2e%2fpackage.json`,
      `${base}/%2e%2e/%2e%2e/package.json`,
      `${base}/constructor`,
      `${base}/__proto__`,
    ];
    for (const path of paths) {
      const res = await t.call('GET', path, { token: null });
      expect(res.status, path).toBe(404);
      expect(res.body, path).toMatchObject({ error: { code: 'not_found', message: expect.any(String) } });
    }
  });
});
