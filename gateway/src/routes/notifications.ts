import { Type, type FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyRequest } from 'fastify';
import {
  Accepted,
  notificationContentSchema,
  NotificationId,
  NotificationStatus,
  type ContentLimits,
  type NotificationContent,
} from '@pushflow/shared';
import { apiKeyFingerprint } from '../auth.ts';
import { contentCheck } from '../content-check.ts';
import { dispatcherAnswer } from '../dispatcher-answer.ts';
import { IdempotencyHeaders, idempotencyOf, scopedKey } from '../idempotency.ts';
import { HttpProblem, problemResponse } from '../problems.ts';
import { rateLimitHook, type RateLimiter } from '../rate-limit.ts';
import type { Rpc } from '../rpc.ts';
import { commonProblems, rateHeaders } from './responses.ts';

/** The status route's path parameters; the uWS front's status fast path validates them the same way. */
export const StatusParams = Type.Object({ id: NotificationId });

const accepted = dispatcherAnswer(Accepted);
const statusOf = dispatcherAnswer(NotificationStatus);

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
  const dataProblem = contentCheck(limits);
  const checkContent = async (request: FastifyRequest) => {
    const problem = dataProblem(request.body as NotificationContent, '/body');
    if (problem) throw problem;
  };

  app.post(
    '/notifications',
    {
      schema: {
        operationId: 'sendNotification',
        summary: 'Send a notification to a recipient',
        tags: ['notifications'],
        body: notificationContentSchema(limits),
        headers: IdempotencyHeaders,
        response: {
          202: { description: 'Accepted: the notification has an id and is on its way', ...Accepted },
          ...commonProblems,
          413: problemResponse(`The body is over ${bodyLimitBytes} bytes`),
          415: problemResponse('The body is not application/json'),
          422: problemResponse(
            'The Idempotency-Key was already used with a different body (idempotency-key-reused), or the database refused to store the notification (notification-refused)',
          ),
          429: { ...problemResponse('This API key is over its request rate; see Retry-After'), headers: rateHeaders },
        },
      },
      // After validation, before any I/O: the data check, then the rate limit (a Redis call).
      preHandler: rateLimiter ? [checkContent, rateLimitHook(rateLimiter, apiKeyFingerprint, onRateLimited)] : [checkContent],
    },
    async (request, reply) => {
      const idempotency = idempotencyOf(request, scopedKey);
      const result = await accepted(rpc.send(request.body, idempotency));
      // At debug: a line per notification would cost more CPU than the request (docs/bench.md, "Where the services' CPU goes").
      request.log.debug({ notificationId: result.notificationId }, 'notification accepted');
      return reply.code(202).send(result);
    },
  );

  app.get(
    '/notifications/:id/status',
    {
      schema: {
        operationId: 'getNotificationStatus',
        summary: 'What became of a notification',
        tags: ['notifications'],
        params: StatusParams,
        response: {
          200: { description: "The notification's status and history", ...NotificationStatus },
          ...commonProblems,
          404: problemResponse('No notification with that id'),
        },
      },
      // The id is the only thing to validate; ajv would quote its regex, this says it in words.
      attachValidation: true,
    },
    async (request) => {
      if (request.validationError) throw notANotificationId();
      return statusOf(rpc.status(request.params.id));
    },
  );
};

function notANotificationId(): HttpProblem {
  const message = 'is not a notification id (a UUID)';
  return new HttpProblem('validation-failed', `params/id ${message}`, { errors: [{ path: '/params/id', message }] });
}
