/** POST /v1/completions (legacy text completions): validate, then answer with an error, a response or a stream. */
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { completionChunkSchema, completionRequestSchema, completionResponseSchema } from '../schemas/completions.js';
import { inferenceErrorResponses } from '../schemas/errors.js';
import { requireLoaded, type Services } from '../services/create-services.js';
import { clientDisconnectSignal, sendEventStream } from '../services/sse.js';

export const completionsRoutes: FastifyPluginAsyncZod<{ services: Services }> = async (app, { services }) => {
  app.post(
    '/v1/completions',
    {
      schema: {
        summary: 'Create a text completion (optionally steered)',
        tags: ['inference'],
        security: [{ bearerAuth: [] }],
        body: completionRequestSchema,
        response: {
          200: {
            description: 'A completion, or with stream: true a text/event-stream of chunks ending in data: [DONE]',
            content: {
              'application/json': { schema: completionResponseSchema },
              'text/event-stream': { schema: completionChunkSchema },
            },
          },
          ...inferenceErrorResponses,
        },
      },
    },
    async (request, reply) => {
      const { completions } = requireLoaded(services);
      const signal = clientDisconnectSignal(reply);
      if (request.body.stream) return sendEventStream(reply, await completions.completionStream(request.body, signal));
      return completions.completion(request.body, signal);
    },
  );
};
