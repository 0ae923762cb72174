import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { WebhookStats } from '@pushflow/shared';
import { dispatcherAnswer } from '../dispatcher-answer.ts';
import { problemResponse } from '../problems.ts';
import type { Rpc } from '../rpc.ts';

/**
 * The dashboard's webhooks panel: each endpoint with the success rate of its recent attempts,
 * its backlog and its last failures. Endpoints and stored messages live in MongoDB, which
 * only dispatchers read, so this is one admin request (`stats`) like the /webhooks routes.
 */
const stats = dispatcherAnswer(WebhookStats);

export const dashboardWebhookRoutes: FastifyPluginAsyncTypebox<{ rpc: Rpc }> = async (app, { rpc }) => {
  app.get(
    '/dashboard/api/webhooks',
    {
      schema: {
        operationId: 'getDashboardWebhooks',
        summary: 'Webhook endpoints: recent success rate, backlog, failed messages, last failures',
        tags: ['dashboard'],
        response: {
          200: WebhookStats,
          401: problemResponse('Missing or invalid API key'),
          503: problemResponse('The dispatcher cannot take the request now; see Retry-After'),
          504: problemResponse('No dispatcher answered in time; see Retry-After'),
        },
      },
    },
    async () => stats(rpc.webhookAdmin({ op: 'stats' })),
  );
};
