/** The feature endpoints: inspect a text's features, search features, describe one (see services/feature-service.ts). */
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { errorResponseSchema, inferenceErrorResponses } from '../schemas/errors.js';
import {
  featureInspectionSchema,
  featureInspectRequestSchema,
  featureParamsSchema,
  featureSchema,
  featureSearchQuerySchema,
  featureSearchResultSchema,
} from '../schemas/features.js';
import { requireLoaded, type Services } from '../services/create-services.js';
import { SaeNotLoadedError, type FeatureService } from '../services/feature-service.js';
import { clientDisconnectSignal } from '../services/sse.js';

const noSae = errorResponseSchema.describe('No SAE is loaded (start the server with --sae), or no such feature.');
const readErrors = { 400: errorResponseSchema, 401: errorResponseSchema, 404: noSae, 503: errorResponseSchema };

function featureService(services: Services): FeatureService {
  const { features } = requireLoaded(services);
  if (!features) throw new SaeNotLoadedError();
  return features;
}

export const featuresRoutes: FastifyPluginAsyncZod<{ services: Services }> = async (app, { services }) => {
  app.post(
    '/v1/features/inspect',
    {
      schema: {
        summary: "Read the SAE's features on every token of a prompt (and of an optional, optionally steered, generation)",
        tags: ['features'],
        security: [{ bearerAuth: [] }],
        body: featureInspectRequestSchema,
        response: { 200: featureInspectionSchema, ...inferenceErrorResponses, 404: errorResponseSchema.describe('Unknown model, or no SAE is loaded.') },
      },
    },
    async (request, reply) => featureService(services).inspect(request.body, clientDisconnectSignal(reply)),
  );

  app.get(
    '/v1/features/search',
    {
      schema: {
        summary: 'Find features by label and by activation on the query text',
        tags: ['features'],
        security: [{ bearerAuth: [] }],
        querystring: featureSearchQuerySchema,
        response: { 200: featureSearchResultSchema, ...readErrors },
      },
    },
    async (request, reply) => featureService(services).search(request.query.q, request.query.limit, clientDisconnectSignal(reply)),
  );

  app.get(
    '/v1/features/:index',
    {
      schema: {
        summary: 'Describe a feature: label, statistics, top contexts, nearest features by decoder cosine',
        tags: ['features'],
        security: [{ bearerAuth: [] }],
        params: featureParamsSchema,
        response: { 200: featureSchema, ...readErrors },
      },
    },
    async (request) => featureService(services).feature(request.params.index),
  );
};
