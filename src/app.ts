/**
 * Builds the Fastify app: schemas, error handling, auth, metrics hooks, docs and routes. It never listens
 * (server.ts does), so tests and the OpenAPI generator build it and call inject() or swagger().
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import Fastify, { type FastifyBaseLogger, type FastifyInstance, type FastifySchemaCompiler } from 'fastify';
import { serializerCompiler, type ZodTypeProvider } from 'fastify-type-provider-zod';
import type { z } from 'zod';
import type { Config } from './config.js';
import type { Engine } from './engine/engine.js';
import { ApiError, registerErrorHandlers, toRequestValidationError } from './errors.js';
import { registerOpenApi } from './openapi.js';
import { chatCompletionsRoutes } from './routes/chat-completions.js';
import { compareRoutes } from './routes/compare.js';
import { completionsRoutes } from './routes/completions.js';
import { featuresRoutes } from './routes/features.js';
import { healthRoutes } from './routes/health.js';
import { metricsRoutes } from './routes/metrics.js';
import { modelsRoutes } from './routes/models.js';
import { playgroundRoutes } from './routes/playground.js';
import type { Services } from './services/create-services.js';

/** Requests carry a conversation, not files: 4 MiB holds a long chat plus a few raw steering vectors. */
export const BODY_LIMIT_BYTES = 4 * 1024 * 1024;

const INFERENCE_ROUTES = new Set(['/v1/chat/completions', '/v1/completions', '/v1/compare']);

export interface BuildAppOptions {
  config: Pick<Config, 'apiKeys'>;
  /** absent while the model loads, and when the app is built only for its OpenAPI document */
  engine?: Engine;
  services: Services;
  /** pino logger; no logging when absent */
  logger?: FastifyBaseLogger;
}

/**
 * Validates with zod and reports the first problem as an OpenAI-style param (`messages[0].content`), which
 * needs zod's typed path: fastify-type-provider-zod's own compiler flattens it to a string.
 */
const validatorCompiler: FastifySchemaCompiler<z.ZodType> =
  ({ schema }) =>
  (data) => {
    const result = schema.safeParse(data);
    return result.success ? { value: result.data } : { error: toRequestValidationError(result.error, data) };
  };

/** Compares keys by their hashes so the time taken says nothing about how much of a guess matched. */
function apiKeyChecker(keys: readonly string[]): (presented: string) => boolean {
  const digests = keys.map((key) => createHash('sha256').update(key).digest());
  return (presented) => {
    const digest = createHash('sha256').update(presented).digest();
    return digests.some((known) => timingSafeEqual(known, digest));
  };
}

export async function buildApp(options: BuildAppOptions): Promise<FastifyInstance> {
  const { config, engine, services, logger } = options;
  const app = Fastify({
    ...(logger ? { loggerInstance: logger } : { logger: false }),
    bodyLimit: BODY_LIMIT_BYTES,
  }).withTypeProvider<ZodTypeProvider>();

  // JSON only: a text/plain body would otherwise reach validation as a string and get a misleading 400
  app.removeContentTypeParser('text/plain');
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  registerErrorHandlers(app, services.metrics);

  if (engine) {
    const stopObserving = services.metrics.observeEngine(engine);
    app.addHook('onClose', async () => stopObserving());
  }

  // Duration and in-flight counts hang on the raw response's 'close', which fires for finished and for
  // abandoned requests alike (Fastify's onResponse never runs for a client that disconnected).
  app.addHook('onRequest', async (request, reply) => {
    const started = performance.now();
    const endpoint = request.routeOptions.url ?? 'unmatched';
    const inference = INFERENCE_ROUTES.has(endpoint);
    if (inference) services.metrics.requestsInFlight.inc();
    reply.raw.once('close', () => {
      if (inference) services.metrics.requestsInFlight.dec();
      const status = reply.raw.writableEnded ? String(reply.statusCode) : 'client_closed';
      services.metrics.requestDuration.observe({ endpoint, status }, (performance.now() - started) / 1000);
    });
  });

  if (config.apiKeys.length > 0) {
    const isKnownKey = apiKeyChecker(config.apiKeys);
    app.addHook('onRequest', async (request) => {
      if (!request.url.startsWith('/v1/')) return;
      const match = /^Bearer\s+(\S+)\s*$/i.exec(request.headers.authorization ?? '');
      if (!match) {
        throw new ApiError(401, 'invalid_request_error', "Missing API key: send it as 'Authorization: Bearer KEY'.", null, 'invalid_api_key');
      }
      if (!isKnownKey(match[1]!)) {
        throw new ApiError(401, 'invalid_request_error', 'Incorrect API key provided.', null, 'invalid_api_key');
      }
    });
  }

  await registerOpenApi(app);
  await app.register(chatCompletionsRoutes, { services });
  await app.register(completionsRoutes, { services });
  await app.register(compareRoutes, { services });
  await app.register(featuresRoutes, { services });
  await app.register(modelsRoutes, { services });
  await app.register(healthRoutes, { services });
  await app.register(metricsRoutes, { services });
  await app.register(playgroundRoutes);
  return app;
}
