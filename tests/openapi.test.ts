/**
 * The checked-in openapi.yaml is what the zod schemas generate: change a schema, run `npm run openapi`, and
 * commit both. Also checks that the served /openapi.json is that same document.
 */
import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { OPENAPI_FILE, renderOpenApiYaml } from '../scripts/generate-openapi.js';
import { buildApp } from '../src/app.js';
import { Metrics } from '../src/metrics.js';

interface OpenApiDocument {
  openapi: string;
  paths: Record<string, Record<string, { requestBody?: { content: Record<string, { schema: { $ref?: string } }> } }>>;
  components: { schemas: Record<string, { properties?: Record<string, unknown> }> };
}

describe('openapi.yaml', () => {
  it('equals the document generated from the schemas (run npm run openapi after changing them)', async () => {
    const generated = await renderOpenApiYaml();
    const checkedIn = await readFile(OPENAPI_FILE, 'utf8');
    // compare parsed first for a readable diff, then the text (formatting drift counts too)
    expect(parse(checkedIn)).toEqual(parse(generated));
    expect(checkedIn).toBe(generated);
  });

  it('documents every endpoint, with steerd extensions after the OpenAI fields', async () => {
    const document = parse(await readFile(OPENAPI_FILE, 'utf8')) as OpenApiDocument;
    expect(document.openapi).toBe('3.1.0');
    expect(Object.keys(document.paths).sort()).toEqual(
      ['/health', '/metrics', '/v1/chat/completions', '/v1/compare', '/v1/completions', '/v1/features/inspect', '/v1/features/search', '/v1/features/{index}', '/v1/models', '/v1/models/{model}'].sort(),
    );
    const chat = Object.keys(document.components.schemas.ChatCompletionRequest?.properties ?? {});
    expect(chat.slice(0, 2)).toEqual(['model', 'messages']);
    expect(chat.slice(-4)).toEqual(['steer', 'top_k', 'min_p', 'repeat_penalty']);
    expect(document.components.schemas.ChatCompletion?.properties).toHaveProperty('steering');
  });

  it('is served at /openapi.json, with a docs page at /docs', async () => {
    const app = await buildApp({ config: { apiKeys: [] }, services: { metrics: new Metrics({ defaultMetrics: false }) } });
    try {
      const served = await app.inject({ method: 'GET', url: '/openapi.json' });
      expect(served.statusCode).toBe(200);
      expect(served.json()).toEqual(parse(await readFile(OPENAPI_FILE, 'utf8')));
      const docs = await app.inject({ method: 'GET', url: '/docs' });
      expect([200, 302]).toContain(docs.statusCode);
    } finally {
      await app.close();
    }
  });
});
