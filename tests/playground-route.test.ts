/**
 * The playground's files over HTTP, without a model: the page and every module it imports are served with
 * their content types and outside the API key, nothing else under /playground/ is, and the OpenAPI document
 * does not list the page. (The page itself is tested in a real browser: playground.browser.test.ts.)
 */
import { readFile } from 'node:fs/promises';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../src/app.js';
import { Metrics } from '../src/metrics.js';
import { WEB_DIR } from '../src/routes/playground.js';

const KEY = 'route-test-key';
let app: FastifyInstance;

beforeAll(async () => {
  app = await buildApp({ config: { apiKeys: [KEY] }, services: { metrics: new Metrics({ defaultMetrics: false }) } });
});
afterAll(async () => {
  await app?.close();
});

/** Every same-origin URL the page loads: index.html's script and stylesheet, then the modules' imports. */
async function pageUrls(): Promise<string[]> {
  const html = await readFile(new URL('index.html', WEB_DIR), 'utf8');
  const urls = [...html.matchAll(/(?:src|href)="(\/playground\/[^"]+)"/g)].map((m) => m[1]!);
  for (let i = 0; i < urls.length; i++) {
    if (!urls[i]!.endsWith('.js')) continue;
    const source = await readFile(new URL(urls[i]!.slice('/playground/'.length), WEB_DIR), 'utf8');
    for (const [, name] of source.matchAll(/from '\.\/([\w.-]+)'/g)) {
      if (!urls.includes(`/playground/${name}`)) urls.push(`/playground/${name}`);
    }
  }
  return urls;
}

describe('playground route', () => {
  it('serves the page at / without an API key, with a same-origin content security policy', async () => {
    const page = await app.inject({ method: 'GET', url: '/' });
    expect(page.statusCode).toBe(200);
    expect(page.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(page.headers['content-security-policy']).toContain("default-src 'self'");
    expect(page.body).toContain('<script type="module" src="/playground/main.js"></script>');
    // the API itself still wants the key
    expect((await app.inject({ method: 'GET', url: '/v1/models' })).statusCode).toBe(401);
  });

  it('serves every script and stylesheet the page loads, with its content type', async () => {
    const urls = await pageUrls();
    expect(urls).toEqual(expect.arrayContaining(['/playground/main.js', '/playground/playground.css', '/playground/api.js', '/playground/token-view.js']));
    for (const url of urls) {
      const response = await app.inject({ method: 'GET', url });
      expect(response.statusCode, url).toBe(200);
      const type = url.endsWith('.css') ? 'text/css; charset=utf-8' : 'text/javascript; charset=utf-8';
      expect(response.headers['content-type'], url).toBe(type);
      expect(response.body).toBe(await readFile(new URL(url.slice('/playground/'.length), WEB_DIR), 'utf8'));
    }
  });

  it('answers 404 in the API error shape for anything else, including paths that climb out', async () => {
    for (const url of ['/playground/nope.js', '/playground/..%2Fpackage.json', '/playground/%2e%2e%2fsrc%2fapp.ts', '/playground/../package.json', '/playground/']) {
      const response = await app.inject({ method: 'GET', url });
      expect(response.statusCode, url).toBe(404);
      expect(response.json(), url).toMatchObject({ error: { type: 'not_found_error', code: 'unknown_url' } });
    }
  });

  it('is not part of the OpenAPI document', async () => {
    const document = (await app.inject({ method: 'GET', url: '/openapi.json' })).json() as { paths: Record<string, unknown> };
    expect(Object.keys(document.paths).filter((path) => path === '/' || path.startsWith('/playground'))).toEqual([]);
    expect(Object.keys(document.paths)).toContain('/v1/chat/completions');
  });
});
