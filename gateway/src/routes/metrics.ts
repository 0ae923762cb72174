import type { FastifyPluginAsync } from 'fastify';
import { metricsAccess, type Registry } from '@pushflow/shared';
import { HttpProblem } from '../problems.ts';

/**
 * Prometheus exposition text. Left out of the OpenAPI document: it is for the operator's
 * scraper, not for API clients, and its auth is the metrics token, not an API key.
 */
export const metricsRoutes: FastifyPluginAsync<{ registry: Registry; token: string | undefined }> = async (app, { registry, token }) => {
  const authorized = metricsAccess(token);
  app.get('/metrics', { schema: { hide: true } }, async (request, reply) => {
    if (!authorized(request.headers.authorization)) {
      throw new HttpProblem('unauthorized', 'Send the metrics token as "Authorization: Bearer <token>"');
    }
    return reply.type(registry.contentType).send(await registry.metrics());
  });
};
