/** POST /v1/chat/completions: validate, then answer with an error, a full response, or a stream. */
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import {
  chatCompletionChunkSchema,
  chatCompletionRequestSchema,
  chatCompletionResponseSchema,
} from '../schemas/chat-completions.js';
import { inferenceErrorResponses } from '../schemas/errors.js';
import { requireLoaded, type Services } from '../services/create-services.js';
import { clientDisconnectSignal, sendEventStream } from '../services/sse.js';

export const chatCompletionsRoutes: FastifyPluginAsyncZod<{ services: Services }> = async (app, { services }) => {
  app.post(
    '/v1/chat/completions',
    {
      schema: {
        summary: 'Create a chat completion (optionally steered)',
        tags: ['inference'],
        security: [{ bearerAuth: [] }],
        body: chatCompletionRequestSchema,
        response: {
          200: {
            description: 'A chat completion, or with stream: true a text/event-stream of chunks ending in data: [DONE]',
            content: {
              'application/json': { schema: chatCompletionResponseSchema },
              'text/event-stream': { schema: chatCompletionChunkSchema },
            },
          },
          ...inferenceErrorResponses,
        },
      },
    },
    async (request, reply) => {
      const { completions } = requireLoaded(services);
      const signal = clientDisconnectSignal(reply);
      if (request.body.stream) return sendEventStream(reply, await completions.chatStream(request.body, signal));
      return completions.chat(request.body, signal);
    },
  );
};
