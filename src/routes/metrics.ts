/** GET /metrics: Prometheus text exposition of the steerd_* metrics. */
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { Services } from '../services/create-services.js';

export const metricsRoutes: FastifyPluginAsyncZod<{ services: Services }> = async (app, { services }) => {
  app.get(
    '/metrics',
    { schema: { summary: 'Prometheus metrics (text exposition format)', tags: ['operations'] } },
    async (_request, reply) => {
      const { contentType, body } = await services.metrics.render();
      return reply.type(contentType).send(body);
    },
  );
};
