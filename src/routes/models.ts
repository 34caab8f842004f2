/** GET /v1/models and GET /v1/models/{model}: the one loaded model, with what steering clients need to know. */
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { ModelNotFoundError } from '../errors.js';
import { errorResponseSchema } from '../schemas/errors.js';
import { modelListSchema, modelParamsSchema, modelSchema } from '../schemas/models.js';
import { requireLoaded, type Services } from '../services/create-services.js';

export const modelsRoutes: FastifyPluginAsyncZod<{ services: Services }> = async (app, { services }) => {
  const errors = { 401: errorResponseSchema, 503: errorResponseSchema };

  app.get(
    '/v1/models',
    {
      schema: {
        summary: 'List the served model',
        tags: ['models'],
        security: [{ bearerAuth: [] }],
        response: { 200: modelListSchema, ...errors },
      },
    },
    async () => ({ object: 'list' as const, data: [requireLoaded(services).model] }),
  );

  app.get(
    '/v1/models/:model',
    {
      schema: {
        summary: 'Describe a model',
        tags: ['models'],
        security: [{ bearerAuth: [] }],
        params: modelParamsSchema,
        response: { 200: modelSchema, 404: errorResponseSchema, ...errors },
      },
    },
    async (request) => {
      const { model } = requireLoaded(services);
      if (request.params.model !== model.id) throw new ModelNotFoundError(request.params.model);
      return model;
    },
  );
};
