import { Accepted, notificationContentSchema, type ContentLimits, type Logger, type NotificationContent } from '@pushflow/shared';
import type { App } from './app.ts';
import type { ApiKeyCheck } from './auth.ts';
import { contentCheck } from './content-check.ts';
import { dispatcherAnswer } from './dispatcher-answer.ts';
import { type Answer, type FastRoute, type FrontRequest, jsonAnswer, problemAnswer, type RouteCompilers } from './fast-route.ts';
import { IDEMPOTENCY_HEADER, IdempotencyHeaders, idempotencyFor, scopedKey } from './idempotency.ts';
import type { GatewayMetrics } from './metrics.ts';
import type { RateLimiter } from './rate-limit.ts';
import type { Rpc } from './rpc.ts';

/** The route this fast path serves; it answers as the app's route of the same name (routes/notifications.ts). */
export const SEND_ROUTE = '/notifications';

export interface SendFastPathDeps {
  /** For its shared schemas: the fast path's validator and serializer are compiled as Fastify compiles the route's. */
  app: App;
  rpc: Rpc;
  limits: ContentLimits;
  /** PUSHFLOW_HTTP_BODY_LIMIT_BYTES, the route's. The front caps the body there already; this keeps the fast path right on its own. */
  bodyLimitBytes: number;
  checkKey: ApiKeyCheck;
  compilers: RouteCompilers;
  rateLimiter: RateLimiter | undefined;
  metrics: GatewayMetrics;
  log: Logger;
}

const JSON_TYPES = new Set(['application/json', 'application/json; charset=utf-8', 'application/json;charset=utf-8']);

/**
 * POST /notifications without Fastify (a FastRoute, fast-route.ts), for the requests that are ordinary: a valid key, a
 * JSON body the route's schema accepts, a rate limit that lets it through. It answers
 * those with the 202 (or what the dispatcher's answer maps to) and returns `undefined` for
 * anything else, before it has done anything, so that Fastify's route answers it with
 * every error exactly as it always has. Nothing the API promises is written twice: the
 * checks, the schema's compiled validator and serializer, and the problems are the route's.
 */
export function sendFastPath({ app, rpc, limits, bodyLimitBytes, checkKey, compilers, rateLimiter, metrics, log }: SendFastPathDeps) {
  const { validator: compileValidator, serializer: compileSerializer } = compilers;
  const validBody = compileValidator({ schema: notificationContentSchema(limits), method: 'POST', url: SEND_ROUTE, httpPart: 'body' });
  const validHeaders = compileValidator({ schema: IdempotencyHeaders, method: 'POST', url: SEND_ROUTE, httpPart: 'headers' });
  const serialize = compileSerializer({ schema: Accepted, method: 'POST', url: SEND_ROUTE, httpStatus: '202' });
  const parseJson = app.getDefaultJsonParser('error', 'error');
  const dataProblem = contentCheck(limits);
  const accepted = dispatcherAnswer(Accepted);

  /** The body as Fastify's parser reads it, or undefined where Fastify would refuse it. */
  const parsed = (text: string): unknown => {
    let value: unknown;
    parseJson(undefined as never, text, (err, result) => {
      if (!err) value = result;
    });
    return value;
  };

  const send = async (request: FrontRequest, startedAt: number): Promise<Answer | undefined> => {
    const digest = checkKey(request.headers.authorization);
    if (!Buffer.isBuffer(digest)) return undefined;
    const contentType = request.headers['content-type'];
    if (contentType === undefined || !JSON_TYPES.has(contentType.toLowerCase())) return undefined;
    if (request.body.length > bodyLimitBytes) return undefined;
    const body = parsed(request.body.toString());
    if (body === undefined || !validBody(body)) return undefined;
    const idempotencyKey = request.headers[IDEMPOTENCY_HEADER];
    if (idempotencyKey !== undefined && !validHeaders({ 'idempotency-key': idempotencyKey })) return undefined;
    if (dataProblem(body as NotificationContent, '/body')) return undefined;
    const fingerprint = digest.toString('hex');

    const headers: Record<string, string> = {};
    if (rateLimiter) {
      // A refusal takes nothing from the budget, and neither does an outage: the route asks again and answers either.
      const decision = await rateLimiter.take(fingerprint, 1).catch(() => undefined);
      if (!decision?.allowed) return undefined;
      headers['ratelimit-limit'] = String(decision.limit);
      headers['ratelimit-remaining'] = String(decision.remaining);
      headers['ratelimit-reset'] = String(decision.resetSeconds);
    }

    // From here the notification may be queued, so whatever happens is answered here.
    let answer: Answer;
    try {
      const result = await accepted(rpc.send(body as NotificationContent, idempotencyFor(idempotencyKey, fingerprint, body, scopedKey)));
      if (log.isLevelEnabled('debug')) log.debug({ notificationId: result.notificationId }, 'notification accepted');
      answer = jsonAnswer(202, serialize(result), headers);
    } catch (err) {
      answer = problemAnswer(err, request.url, headers, log);
    }
    metrics.observeRequest('POST', SEND_ROUTE, answer.status, (performance.now() - startedAt) / 1000);
    return answer;
  };
  const route: FastRoute = (request, startedAt) =>
    request.method === 'POST' && request.path === SEND_ROUTE ? send(request, startedAt) : undefined;
  return route;
}
