import { Type, type FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Accepted, NotificationContent, NotificationId, NotificationStatus } from '@pushflow/shared';
import { apiKeyFingerprint } from '../auth.ts';
import { dispatcherAnswer } from '../dispatcher-answer.ts';
import { IDEMPOTENCY_HEADER, IdempotencyHeaders, requestHash, scopedKey } from '../idempotency.ts';
import { problemResponse } from '../problems.ts';
import type { Rpc } from '../rpc.ts';

const accepted = dispatcherAnswer(Accepted);
const statusOf = dispatcherAnswer(NotificationStatus);

const common = {
  400: problemResponse('The request is not valid'),
  401: problemResponse('Missing or invalid API key'),
  503: problemResponse('The dispatcher cannot take the request now; see Retry-After'),
  504: problemResponse('No dispatcher answered in time; see Retry-After'),
};

export const notificationRoutes: FastifyPluginAsyncTypebox<{ rpc: Rpc }> = async (app, { rpc }) => {
  app.post('/notifications', {
    schema: {
      operationId: 'sendNotification',
      summary: 'Send a notification to a recipient',
      tags: ['notifications'],
      body: NotificationContent,
      headers: IdempotencyHeaders,
      response: {
        202: { description: 'Accepted: the notification has an id and is on its way', ...Accepted },
        ...common,
        413: problemResponse('The body is over 64 KiB'),
        415: problemResponse('The body is not application/json'),
        422: problemResponse('The Idempotency-Key was already used with a different body'),
      },
    },
  }, async (request, reply) => {
    const key = request.headers[IDEMPOTENCY_HEADER];
    const idempotency = key === undefined ? undefined : {
      idempotencyKey: scopedKey(apiKeyFingerprint(request), key),
      requestHash: requestHash(request.body),
    };
    const result = await accepted(rpc.send(request.body, idempotency));
    request.log.info({ notificationId: result.notificationId }, 'notification accepted');
    return reply.code(202).send(result);
  });

  app.get('/notifications/:id/status', {
    schema: {
      operationId: 'getNotificationStatus',
      summary: 'What became of a notification',
      tags: ['notifications'],
      params: Type.Object({ id: NotificationId }),
      response: {
        200: { description: 'The notification\'s status and history', ...NotificationStatus },
        ...common,
        404: problemResponse('No notification with that id'),
      },
    },
  }, async (request) => {
    return statusOf(rpc.status(request.params.id));
  });
};
