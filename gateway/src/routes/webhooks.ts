import { Type, type FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import {
  uuidv7,
  WebhookAttempts,
  WebhookCreate,
  WebhookCreated,
  WebhookEndpoint,
  WebhookId,
  WebhookList,
  WebhookRetried,
  WebhookRotated,
  WebhookTestSent,
  WebhookUpdate,
  WEBHOOK_EVENT_TYPES,
} from '@pushflow/shared';
import { dispatcherAnswer } from '../dispatcher-answer.ts';
import { HttpProblem, problemResponse } from '../problems.ts';
import type { Rpc } from '../rpc.ts';
import { commonProblems } from './responses.ts';

/**
 * The webhook endpoints API. The gateway holds no database: each route is one admin request
 * a dispatcher answers from MongoDB (rpc.ts webhookAdmin), as status reads are, so the
 * gateway stays stateless and the answers go through the same schema check.
 */
export interface WebhookRouteOptions {
  rpc: Rpc;
}

const created = dispatcherAnswer(WebhookCreated);
const endpoint = dispatcherAnswer(WebhookEndpoint);
const list = dispatcherAnswer(WebhookList);
const rotated = dispatcherAnswer(WebhookRotated);
const testSent = dispatcherAnswer(WebhookTestSent);
const attempts = dispatcherAnswer(WebhookAttempts);
const retried = dispatcherAnswer(WebhookRetried);
const nothing = dispatcherAnswer(Type.Object({}));

const ById = Type.Object({ id: WebhookId });
const AttemptsQuery = Type.Object(
  {
    limit: Type.Optional(Type.String({ pattern: '^([1-9][0-9]{0,2}|1000)$', default: '50', description: 'At most this many, 1 to 1000' })),
  },
  { additionalProperties: false },
);
const notFound = { 404: problemResponse('No webhook endpoint with that id') };
const urlProblems = {
  422: problemResponse(
    'The URL is not one the dispatcher will send to (webhook-url-refused): it resolves to a loopback, private, link-local or metadata address, or does not resolve',
  ),
};

export const webhookRoutes: FastifyPluginAsyncTypebox<WebhookRouteOptions> = async (app, { rpc }) => {
  app.post(
    '/webhooks',
    {
      schema: {
        operationId: 'createWebhook',
        summary: 'Add a webhook endpoint',
        description:
          `Messages follow Standard Webhooks: one POST per event with \`webhook-id\`, \`webhook-timestamp\` and \`webhook-signature\`. ` +
          `\`events\` chooses from ${WEBHOOK_EVENT_TYPES.join(', ')}. The answer is the only place the signing secret is shown.`,
        tags: ['webhooks'],
        body: WebhookCreate,
        response: { 201: { description: 'Created; keep `secret`', ...WebhookCreated }, ...commonProblems, ...urlProblems },
      },
    },
    async (request, reply) => {
      checkUrl(request.body.url);
      const result = await created(rpc.webhookAdmin({ op: 'create', id: uuidv7(), endpoint: request.body }));
      return reply.code(201).send(result);
    },
  );

  app.get(
    '/webhooks',
    {
      schema: {
        operationId: 'listWebhooks',
        summary: 'List the webhook endpoints',
        tags: ['webhooks'],
        response: { 200: { description: 'Every endpoint, oldest first; never a secret', ...WebhookList }, ...commonProblems },
      },
    },
    async () => list(rpc.webhookAdmin({ op: 'list' })),
  );

  app.get(
    '/webhooks/:id',
    {
      schema: {
        operationId: 'getWebhook',
        summary: 'One webhook endpoint',
        tags: ['webhooks'],
        params: ById,
        response: { 200: { description: 'The endpoint; never its secret', ...WebhookEndpoint }, ...commonProblems, ...notFound },
      },
    },
    async (request) => endpoint(rpc.webhookAdmin({ op: 'get', id: request.params.id })),
  );

  app.patch(
    '/webhooks/:id',
    {
      schema: {
        operationId: 'updateWebhook',
        summary: 'Change a webhook endpoint',
        description:
          'Changes any of `url`, `events`, `enabled` and `description`. A disabled endpoint is sent nothing; events while it is disabled are not kept for it. Enabled again, it gets the events from then on.',
        tags: ['webhooks'],
        params: ById,
        body: WebhookUpdate,
        response: { 200: { description: 'The endpoint as it is now', ...WebhookEndpoint }, ...commonProblems, ...notFound, ...urlProblems },
      },
    },
    async (request) => {
      if (request.body.url !== undefined) checkUrl(request.body.url);
      return endpoint(rpc.webhookAdmin({ op: 'update', id: request.params.id, changes: request.body }));
    },
  );

  app.delete(
    '/webhooks/:id',
    {
      schema: {
        operationId: 'deleteWebhook',
        summary: 'Delete a webhook endpoint',
        description: 'Its stored messages and its attempts go with it.',
        tags: ['webhooks'],
        params: ById,
        response: { 204: { description: 'Deleted', type: 'null' }, ...commonProblems, ...notFound },
      },
    },
    async (request, reply) => {
      await nothing(rpc.webhookAdmin({ op: 'delete', id: request.params.id }));
      return reply.code(204).send();
    },
  );

  app.post(
    '/webhooks/:id/rotate-secret',
    {
      schema: {
        operationId: 'rotateWebhookSecret',
        summary: 'Give a webhook endpoint a new signing secret',
        description:
          'The previous secret goes on signing beside the new one until `previousSecretExpiresAt` (24 h by default): ' +
          'meanwhile `webhook-signature` carries one `v1,` signature per secret, space-separated.',
        tags: ['webhooks'],
        params: ById,
        response: { 200: { description: 'The new secret, shown only here', ...WebhookRotated }, ...commonProblems, ...notFound },
      },
    },
    async (request) => rotated(rpc.webhookAdmin({ op: 'rotate-secret', id: request.params.id })),
  );

  app.post(
    '/webhooks/:id/test',
    {
      schema: {
        operationId: 'testWebhook',
        summary: 'Send a webhook.test message',
        description: 'Queued at once, retried like any other message; its attempts show in `GET /webhooks/{id}/attempts`.',
        tags: ['webhooks'],
        params: ById,
        response: { 202: { description: 'Queued', ...WebhookTestSent }, ...commonProblems, ...notFound },
      },
    },
    async (request, reply) => reply.code(202).send(await testSent(rpc.webhookAdmin({ op: 'test', id: request.params.id }))),
  );

  app.get(
    '/webhooks/:id/attempts',
    {
      schema: {
        operationId: 'listWebhookAttempts',
        summary: 'The recent attempts at a webhook endpoint',
        description: 'Newest first; the last 1000 or so are kept per endpoint.',
        tags: ['webhooks'],
        params: ById,
        querystring: AttemptsQuery,
        response: { 200: { description: 'The attempts', ...WebhookAttempts }, ...commonProblems, ...notFound },
      },
    },
    async (request) => attempts(rpc.webhookAdmin({ op: 'attempts', id: request.params.id, limit: Number(request.query.limit ?? '50') })),
  );

  app.post(
    '/webhooks/:id/retry-failed',
    {
      schema: {
        operationId: 'retryFailedWebhooks',
        summary: 'Send the failed messages of an endpoint again',
        description: 'Every message whose retry schedule was spent starts the schedule again, at once.',
        tags: ['webhooks'],
        params: ById,
        response: { 202: { description: 'Queued again', ...WebhookRetried }, ...commonProblems, ...notFound },
      },
    },
    async (request, reply) => reply.code(202).send(await retried(rpc.webhookAdmin({ op: 'retry-failed', id: request.params.id }))),
  );
};

/** The schema checks the scheme; a URL that does not parse is refused here too, before any I/O. */
function checkUrl(url: string): void {
  try {
    new URL(url);
  } catch {
    const message = 'is not a valid URL';
    throw new HttpProblem('validation-failed', `body/url ${message}`, { errors: [{ path: '/body/url', message }] });
  }
}
