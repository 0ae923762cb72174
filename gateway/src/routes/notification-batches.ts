import { Type, type FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { Static } from '@sinclair/typebox';
import type { FastifyRequest } from 'fastify';
import { Accepted, notificationContentSchema, type ContentLimits } from '@pushflow/shared';
import { apiKeyFingerprint } from '../auth.ts';
import type { BatchLimits } from '../config.ts';
import { contentCheck } from '../content-check.ts';
import { dispatcherAnswers } from '../dispatcher-answer.ts';
import { BatchIdempotencyHeaders, idempotencyOf, scopedBatchKey } from '../idempotency.ts';
import { problemResponse } from '../problems.ts';
import { rateLimitHook, type RateLimiter } from '../rate-limit.ts';
import type { Rpc } from '../rpc.ts';
import { commonProblems, rateHeaders } from './responses.ts';

/** The batch route's path; the uWS front reads bodies up to its own larger limit here only. */
export const BATCH_ROUTE = '/notifications/batch';

/**
 * POST /notifications/batch: many notifications in one request, each what POST
 * /notifications would send, validated all together before any is queued. The gateway
 * appends them as one stream entry per commands partition (rpc.ts sendMany), which is what
 * makes a batch cheaper than as many requests.
 */
const acceptedAll = dispatcherAnswers(Accepted);

export const BatchAccepted = Type.Object({
  notifications: Type.Array(Accepted, { description: 'One per notification sent, in the order of the request' }),
});

export interface NotificationBatchRouteOptions {
  rpc: Rpc;
  /** What each notification may hold: the same limits as POST /notifications. */
  limits: ContentLimits;
  batch: BatchLimits;
  /** Absent when rate limiting is off. */
  rateLimiter?: RateLimiter;
  onRateLimited?: () => void;
}

function batchBody(limits: ContentLimits, maxItems: number) {
  return Type.Object(
    {
      notifications: Type.Array(notificationContentSchema(limits), {
        minItems: 1,
        maxItems,
        description: `1 to ${maxItems} notifications, each as the body of POST /notifications`,
      }),
    },
    { additionalProperties: false },
  );
}

function description(batch: BatchLimits): string {
  return [
    `Sends 1 to ${batch.maxItems} notifications (PUSHFLOW_MAX_BATCH_SIZE, and at most PUSHFLOW_RATE_LIMIT_BURST) in one request, ` +
      `each exactly as \`POST /notifications\` would, with the same limits; the body may be up to ${batch.bodyLimitBytes} bytes ` +
      '(PUSHFLOW_MAX_BATCH_BODY_BYTES). The answer lists them in the order of the request.',
    'The whole request is checked before anything is queued: if any notification is invalid the answer is 400 ' +
      '`validation-failed` whose `errors[].path` names it (`/body/notifications/3/recipientId`), and none is sent. ' +
      'The rate limit counts notifications, not requests: a batch of 100 spends 100, and a batch larger than what is ' +
      'left is refused with 429 as a whole (`RateLimit-Remaining` says how many would pass).',
    'An `Idempotency-Key` covers the whole batch: the same key and body answer with the same notifications, sent once; ' +
      'the same key with a different body is 422 `idempotency-key-reused` and none of that body is sent. ' +
      'The same key on `POST /notifications` is another key.',
    'Once queued, a batch is answered with the problem of the first notification refused, as `POST /notifications` ' +
      'answers it (422 `notification-refused`, 503, 504), and such an answer can be partial. The dispatcher takes or refuses ' +
      'a stream entry as a whole, and a batch is queued as one entry per commands partition (grouped by recipient; a single ' +
      'entry with the default PUSHFLOW_PARTITIONS=1), its first notification in an entry of its own when it carries an ' +
      '`Idempotency-Key`. So with more than one partition, or with a key, a 422 `notification-refused`, 503 or 504 may come ' +
      'although other notifications of the batch were accepted and will be delivered. After a 503 or 504, send the batch ' +
      'again with the same `Idempotency-Key`: those already made answer with their ids and are not sent twice.',
  ].join('\n\n');
}

export const notificationBatchRoutes: FastifyPluginAsyncTypebox<NotificationBatchRouteOptions> = async (app, opts) => {
  const { rpc, limits, batch, rateLimiter, onRateLimited } = opts;
  const body = batchBody(limits, batch.maxItems);
  const dataProblem = contentCheck(limits);
  // Every notification, before the rate limit: a batch refused as invalid spends nothing.
  const checkContent = async (request: FastifyRequest) => {
    const { notifications } = request.body as Static<typeof body>;
    for (let i = 0; i < notifications.length; i++) {
      const problem = dataProblem(notifications[i]!, `/body/notifications/${i}`);
      if (problem) throw problem;
    }
  };
  const cost = (request: FastifyRequest) => (request.body as Static<typeof body>).notifications.length;

  app.post(
    BATCH_ROUTE,
    {
      bodyLimit: batch.bodyLimitBytes,
      schema: {
        operationId: 'sendNotificationBatch',
        summary: 'Send many notifications in one request',
        description: description(batch),
        tags: ['notifications'],
        body,
        headers: BatchIdempotencyHeaders,
        response: {
          202: { description: 'Accepted: every notification has an id and is on its way', ...BatchAccepted },
          ...commonProblems,
          413: problemResponse(`The body is over ${batch.bodyLimitBytes} bytes`),
          415: problemResponse('The body is not application/json'),
          422: problemResponse(
            'The Idempotency-Key was already used with a different body (idempotency-key-reused), or the database refused to store a notification (notification-refused)',
          ),
          429: {
            ...problemResponse('This API key has fewer notifications left in its rate than the batch holds; see Retry-After'),
            headers: rateHeaders,
          },
        },
      },
      preHandler: rateLimiter ? [checkContent, rateLimitHook(rateLimiter, apiKeyFingerprint, onRateLimited, cost)] : [checkContent],
    },
    async (request, reply) => {
      const idempotency = idempotencyOf(request, scopedBatchKey);
      const notifications = await acceptedAll(rpc.sendMany(request.body.notifications, idempotency));
      // At debug, as POST /notifications: one line per notification, each with its id.
      for (const { notificationId } of notifications) request.log.debug({ notificationId }, 'notification accepted');
      return reply.code(202).send({ notifications });
    },
  );
};
