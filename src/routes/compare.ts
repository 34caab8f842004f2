/** POST /v1/compare: baseline vs prompted vs steered arms of one chat request, side by side, with measures. */
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { compareChunkSchema, compareRequestSchema, compareResponseSchema } from '../schemas/compare.js';
import { inferenceErrorResponses } from '../schemas/errors.js';
import { requireLoaded, type Services } from '../services/create-services.js';
import { clientDisconnectSignal, sendEventStream } from '../services/sse.js';

export const compareRoutes: FastifyPluginAsyncZod<{ services: Services }> = async (app, { services }) => {
  app.post(
    '/v1/compare',
    {
      schema: {
        summary: 'Compare baseline, prompted and steered generations of one chat request',
        description:
          'Runs the request as up to four arms (baseline, prompted, steered, prompted+steered) that share the seed and ' +
          'sampling settings and decode together in one batch, each sequence with its own steering. Each sample is then ' +
          'scored by the unsteered model on the original messages: fluency (mean log-probability of its tokens) and ' +
          'kl_to_baseline (see CompareSample for the exact definitions).',
        tags: ['inference'],
        security: [{ bearerAuth: [] }],
        body: compareRequestSchema,
        response: {
          200: {
            description: 'The arms with their samples and means, or with stream: true a text/event-stream of chunks ending in data: [DONE]',
            content: {
              'application/json': { schema: compareResponseSchema },
              'text/event-stream': { schema: compareChunkSchema },
            },
          },
          ...inferenceErrorResponses,
        },
      },
    },
    async (request, reply) => {
      const { compare } = requireLoaded(services);
      const signal = clientDisconnectSignal(reply);
      if (request.body.stream) return sendEventStream(reply, await compare.compareStream(request.body, signal));
      return compare.compare(request.body, signal);
    },
  );
};
