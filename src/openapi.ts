/**
 * The OpenAPI document, generated from the same zod schemas that validate requests: served at /openapi.json,
 * browsable at /docs, and checked in as openapi.yaml (npm run openapi; a test fails when it drifts).
 */
import { readFileSync } from 'node:fs';
import fastifySwagger from '@fastify/swagger';
import fastifySwaggerUi from '@fastify/swagger-ui';
import type { FastifyInstance } from 'fastify';
import type { SwaggerTransformObject } from '@fastify/swagger';
import { jsonSchemaTransform, jsonSchemaTransformObject } from 'fastify-type-provider-zod';
import { stringify } from 'yaml';

const { version } = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };

const DESCRIPTION = [
  'An OpenAI-compatible inference server over llama.cpp that steers the model per request by adding vectors',
  'to its residual stream. Requests take OpenAI\'s fields plus steerd extensions (steer, top_k, min_p,',
  'repeat_penalty); responses echo the applied steering under `steering`.',
].join(' ');

type SchemaMap = Record<string, unknown>;

/** Every `#/components/schemas/NAME` that `value` mentions. */
function referencedSchemas(value: unknown, found: Set<string>): void {
  if (Array.isArray(value)) value.forEach((item) => referencedSchemas(item, found));
  else if (value !== null && typeof value === 'object') {
    for (const [key, child] of Object.entries(value)) {
      if (key === '$ref' && typeof child === 'string' && child.startsWith('#/components/schemas/')) {
        found.add(child.slice('#/components/schemas/'.length));
      } else referencedSchemas(child, found);
    }
  }
}

/**
 * The zod transform lists every registered schema twice (an input and an output variant); keep only the ones
 * the paths actually use, directly or through other schemas, so the document says each thing once.
 */
const transformObject: SwaggerTransformObject = (input) => {
  const document = jsonSchemaTransformObject(input) as { paths?: unknown; components?: { schemas?: SchemaMap } };
  const all = document.components?.schemas;
  if (!all) return document as ReturnType<SwaggerTransformObject>;
  const used = new Set<string>();
  referencedSchemas(document.paths, used);
  for (let size = -1; size !== used.size; ) {
    size = used.size;
    for (const name of [...used]) referencedSchemas(all[name], used);
  }
  // request-only schemas need no "Input" suffix when no output variant is left to tell them from
  const renamed = new Map<string, string>();
  for (const name of used) {
    const base = name.replace(/Input$/, '');
    if (base !== name && !used.has(base)) renamed.set(name, base);
  }
  document.components!.schemas = Object.fromEntries(
    Object.entries(all)
      .filter(([name]) => used.has(name))
      .map(([name, schema]) => [renamed.get(name) ?? name, schema]),
  );
  let text = JSON.stringify(document);
  for (const [from, to] of renamed) {
    text = text.replaceAll(`"#/components/schemas/${from}"`, `"#/components/schemas/${to}"`);
  }
  return JSON.parse(text) as ReturnType<SwaggerTransformObject>;
};

/** Registers the document and the docs page; call before the routes so @fastify/swagger sees them. */
export async function registerOpenApi(app: FastifyInstance): Promise<void> {
  await app.register(fastifySwagger, {
    openapi: {
      openapi: '3.1.0',
      info: { title: 'steerd', version, description: DESCRIPTION },
      tags: [
        { name: 'inference', description: 'Completions, with optional steering' },
        { name: 'models', description: 'The served model and its steering parameters' },
        { name: 'operations', description: 'Health and metrics' },
      ],
      components: {
        securitySchemes: {
          bearerAuth: {
            type: 'http',
            scheme: 'bearer',
            description: 'Only when the server was started with --api-key or STEERD_API_KEYS',
          },
        },
      },
    },
    transform: jsonSchemaTransform,
    transformObject,
  });
  await app.register(fastifySwaggerUi, { routePrefix: '/docs' });
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
}

/** The document as YAML, in the stable form checked in at the repository root. */
export function openApiYaml(app: FastifyInstance): string {
  return stringify(app.swagger(), { lineWidth: 0 });
}
