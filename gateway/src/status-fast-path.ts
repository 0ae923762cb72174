import { NotificationStatus, type Logger } from '@pushflow/shared';
import type { ApiKeyCheck } from './auth.ts';
import { dispatcherAnswer } from './dispatcher-answer.ts';
import type { GatewayMetrics } from './metrics.ts';
import type { Rpc } from './rpc.ts';
import { type Answer, type FastRoute, type FrontRequest, jsonAnswer, problemAnswer, type RouteCompilers } from './fast-route.ts';
import { StatusParams } from './routes/notifications.ts';

/** The route's pattern, the label its requests are counted under, as the app counts them. */
export const STATUS_ROUTE = '/notifications/:id/status';

/**
 * An id as the path carries it, with nothing the router would decode: anything else (a
 * %-escape, another length) goes to the app, whose router and validator say what it is.
 */
const STATUS_PATH = /^\/notifications\/([0-9A-Za-z-]{36})\/status$/;

export interface StatusFastPathDeps {
  rpc: Rpc;
  checkKey: ApiKeyCheck;
  compilers: RouteCompilers;
  metrics: GatewayMetrics;
  log: Logger;
}

/**
 * GET /notifications/:id/status without Fastify, as the send fast path does POST
 * /notifications: applications poll it, and through the app's `inject` it cost the gateway
 * more than on Node's HTTP. A valid key and id are answered here, with the route's
 * serializer; anything else is declined, for the app to answer (a FastRoute, fast-route.ts).
 */
export function statusFastPath({ rpc, checkKey, compilers, metrics, log }: StatusFastPathDeps) {
  const validParams = compilers.validator({ schema: StatusParams, method: 'GET', url: STATUS_ROUTE, httpPart: 'params' });
  const serialize = compilers.serializer({ schema: NotificationStatus, method: 'GET', url: STATUS_ROUTE, httpStatus: '200' });
  const statusOf = dispatcherAnswer(NotificationStatus);

  const status = async (request: FrontRequest, id: string, startedAt: number): Promise<Answer | undefined> => {
    if (!Buffer.isBuffer(checkKey(request.headers.authorization))) return undefined;
    if (!validParams({ id })) return undefined;
    let answer: Answer;
    try {
      answer = jsonAnswer(200, serialize(await statusOf(rpc.status(id))));
    } catch (err) {
      answer = problemAnswer(err, request.url, {}, log);
    }
    metrics.observeRequest('GET', STATUS_ROUTE, answer.status, (performance.now() - startedAt) / 1000);
    return answer;
  };
  const route: FastRoute = (request, startedAt) => {
    const id = request.method === 'GET' ? STATUS_PATH.exec(request.path)?.[1] : undefined;
    return id === undefined ? undefined : status(request, id, startedAt);
  };
  return route;
}
