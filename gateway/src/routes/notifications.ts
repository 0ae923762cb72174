import { Type, type FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyReply, FastifyRequest } from 'fastify';
import {
  Accepted, checkData, notificationContentSchema, NotificationId, NotificationStatus, type ContentLimits, type NotificationContent,
} from '@pushflow/shared';
import { apiKeyFingerprint } from '../auth.ts';
import { dispatcherAnswer } from '../dispatcher-answer.ts';
import { IDEMPOTENCY_HEADER, IdempotencyHeaders, requestHash, scopedKey } from '../idempotency.ts';
import { HttpProblem, problemResponse } from '../problems.ts';
import { rateLimitHook, type RateLimiter } from '../rate-limit.ts';
import type { Rpc } from '../rpc.ts';

const accepted = dispatcherAnswer(Accepted);
const statusOf = dispatcherAnswer(NotificationStatus);

const common = {
  400: problemResponse('The request is not valid'),
  401: problemResponse('Missing or invalid API key'),
  503: problemResponse('The dispatcher cannot take the request now; see Retry-After'),
  504: problemResponse('No dispatcher answered in time; see Retry-After'),
};

const rateHeaders = {
  'retry-after': { type: 'integer', minimum: 1, description: 'Whole seconds to wait before retrying' },
  'ratelimit-limit': { type: 'integer', description: 'Requests this API key may make at once (PUSHFLOW_RATE_LIMIT_BURST)' },
  'ratelimit-remaining': { type: 'integer', description: 'Requests left now' },
  'ratelimit-reset': { type: 'integer', description: 'Seconds until a request would pass' },
};

export interface NotificationRouteOptions {
  rpc: Rpc;
  /** What a notification may hold (the gateway's configured limits). */
  limits: ContentLimits;
  /** Only for the documentation: Fastify enforces it. */
  bodyLimitBytes: number;
  /** Absent when rate limiting is off. */
  rateLimiter?: RateLimiter;
  /** Told of every request the rate limit refused. */
  onRateLimited?: () => void;
}

export const notificationRoutes: FastifyPluginAsyncTypebox<NotificationRouteOptions> = async (app, opts) => {
  const { rpc, limits, bodyLimitBytes, rateLimiter, onRateLimited } = opts;
  const checkContent = contentCheck(limits);

  app.post('/notifications', {
    schema: {
      operationId: 'sendNotification',
      summary: 'Send a notification to a recipient',
      tags: ['notifications'],
      body: notificationContentSchema(limits),
      headers: IdempotencyHeaders,
      response: {
        202: { description: 'Accepted: the notification has an id and is on its way', ...Accepted },
        ...common,
        413: problemResponse(`The body is over ${bodyLimitBytes} bytes`),
        415: problemResponse('The body is not application/json'),
        422: problemResponse('The Idempotency-Key was already used with a different body (idempotency-key-reused), or the database refused to store the notification (notification-refused)'),
        429: { ...problemResponse('This API key is over its request rate; see Retry-After'), headers: rateHeaders },
      },
    },
    // After validation, before any I/O: the data check, then the rate limit (a Redis call).
    preHandler: rateLimiter ? [checkContent, rateLimitHook(rateLimiter, apiKeyFingerprint, onRateLimited)] : [checkContent],
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

/** The rules on `data` the schema cannot state (see data-rules.ts), as a 400 like the schema's. */
function contentCheck(limits: ContentLimits) {
  const rules = { maxBytes: limits.dataBytes, maxDepth: limits.dataDepth };
  return async function checkContent(request: FastifyRequest, _reply: FastifyReply): Promise<void> {
    const { data } = request.body as NotificationContent;
    if (data === undefined) return;
    const broken = checkData(data, rules);
    if (broken) {
      const path = `/body/data${broken.path}`;
      throw new HttpProblem('validation-failed', `body/data${broken.path} ${broken.message}`, { errors: [{ path, message: broken.message }] });
    }
  };
}
