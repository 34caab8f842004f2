/** GET /health: 503 while the model loads, then 200; for load balancers and container health checks. */
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Services } from '../services/create-services.js';

const healthSchema = z.object({ status: z.enum(['ok', 'loading']) });

export const healthRoutes: FastifyPluginAsyncZod<{ services: Services }> = async (app, { services }) => {
  app.get(
    '/health',
    {
      schema: {
        summary: 'Readiness: ok once the model is loaded',
        tags: ['operations'],
        response: { 200: healthSchema, 503: healthSchema },
      },
    },
    async (_request, reply) => {
      if (!services.completions) return reply.code(503).send({ status: 'loading' });
      return { status: 'ok' as const };
    },
  );
};
