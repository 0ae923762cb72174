import {
  decodeEntries,
  entryTime,
  queueDeadItems,
  webhookAdminCodec,
  writeInOrder,
  type Keys,
  type Logger,
  type Reply,
  type RedisClient,
  type StreamEntry,
  type WebhookAdminRequest,
  type WebhookStats,
  withoutCredentials,
} from '@pushflow/shared';
import { queueReplies } from '../sending/replies.ts';
import { refusalOf } from './address-guard.ts';
import { recentAttempts } from './attempt-log.ts';
import {
  createEndpoint,
  deleteEndpoint,
  getEndpoint,
  listEndpoints,
  rotateSecret,
  toView,
  updateEndpoint,
  type Endpoints,
} from './endpoint-store.ts';
import type { WebhookRelay } from './relay.ts';
import { backlogOf, deleteEndpointMessages, retryFailed, type Messages } from './message-store.ts';

/**
 * Answers the gateways' webhook admin requests (`webhook-admin` stream, one group for every
 * dispatcher, as status reads): endpoint changes in MongoDB, then a bump of
 * `webhook-version` so every relay reloads them before its next batch, then the reply.
 * A request read twice (a dispatcher died before its XACK) is answered the same way: the
 * endpoint id comes from the gateway, and every change is a plain set.
 */
export interface AdminDeps {
  redis: RedisClient;
  keys: Keys;
  endpoints: Endpoints;
  messages: Messages;
  relay: Pick<WebhookRelay, 'sendTest'>;
  allowPrivate: boolean;
  secretOverlapMs: number;
  log: Logger;
  group: string;
}

type Result = { ok: true; result: unknown } | { ok: false; code: 'NOT_FOUND' | 'WEBHOOK_URL_REFUSED'; message: string };

export function createWebhookAdminHandler(deps: AdminDeps) {
  const ok = (result: unknown): Result => ({ ok: true, result });
  const notFound = (id: string): Result => ({ ok: false, code: 'NOT_FOUND', message: `no webhook endpoint ${id}` });

  async function urlRefusal(url: string): Promise<Result | undefined> {
    const why = await refusalOf(url, deps.allowPrivate);
    return why === undefined ? undefined : { ok: false, code: 'WEBHOOK_URL_REFUSED', message: `url ${why}` };
  }

  const changed = () => deps.redis.incr(deps.keys.webhookVersion);

  /** `at`: when the request was appended to the admin stream, by Redis's clock, as the events are. */
  async function answer(req: WebhookAdminRequest, at: Date): Promise<Result> {
    switch (req.op) {
      case 'create': {
        const refused = await urlRefusal(req.endpoint.url);
        if (refused) return refused;
        const created = await createEndpoint(deps.endpoints, req.id, req.endpoint, { id: req.correlationId, at });
        await changed();
        // A URL may carry a password (https://user:pass@host): never in a log line.
        deps.log.info({ endpointId: created.id, url: withoutCredentials(created.url), events: created.events }, 'webhook endpoint created');
        return ok(created);
      }
      case 'list':
        return ok({ webhooks: (await listEndpoints(deps.endpoints)).map(toView) });
      case 'get': {
        const doc = await getEndpoint(deps.endpoints, req.id);
        return doc ? ok(toView(doc)) : notFound(req.id);
      }
      case 'update': {
        if (req.changes.url !== undefined) {
          const refused = await urlRefusal(req.changes.url);
          if (refused) return refused;
        }
        const doc = await updateEndpoint(deps.endpoints, req.id, req.changes, at);
        if (!doc) return notFound(req.id);
        await changed();
        deps.log.info({ endpointId: req.id, changed: Object.keys(req.changes) }, 'webhook endpoint changed');
        return ok(toView(doc));
      }
      case 'delete': {
        const found = await deleteEndpoint(deps.endpoints, req.id);
        await deleteEndpointMessages(deps.messages, req.id);
        await deps.redis.del(deps.keys.webhookAttempts(req.id));
        await changed();
        if (found) deps.log.info({ endpointId: req.id }, 'webhook endpoint deleted');
        return found ? ok({}) : notFound(req.id);
      }
      case 'rotate-secret': {
        const rotated = await rotateSecret(deps.endpoints, req.id, deps.secretOverlapMs);
        if (!rotated) return notFound(req.id);
        await changed();
        deps.log.info({ endpointId: req.id, previousSecretExpiresAt: rotated.previousSecretExpiresAt }, 'webhook secret rotated');
        return ok(rotated);
      }
      case 'test': {
        if (!(await getEndpoint(deps.endpoints, req.id))) return notFound(req.id);
        return ok({ messageId: await deps.relay.sendTest(req.id) });
      }
      case 'attempts': {
        if (!(await getEndpoint(deps.endpoints, req.id))) return notFound(req.id);
        return ok({ attempts: await recentAttempts(deps.redis, deps.keys, req.id, req.limit) });
      }
      case 'retry-failed': {
        if (!(await getEndpoint(deps.endpoints, req.id))) return notFound(req.id);
        const messages = await retryFailed(deps.messages, req.id);
        deps.log.info({ endpointId: req.id, messages }, 'failed webhook messages queued again');
        return ok({ messages });
      }
      case 'stats':
        return ok(await stats());
    }
  }

  async function stats(): Promise<WebhookStats> {
    const endpoints = await listEndpoints(deps.endpoints);
    return {
      endpoints: await Promise.all(
        endpoints.map(async (doc) => {
          const [backlog, attempts] = await Promise.all([
            backlogOf(deps.messages, doc._id),
            recentAttempts(deps.redis, deps.keys, doc._id, 1000),
          ]);
          return {
            id: doc._id,
            url: doc.url,
            enabled: doc.enabled,
            events: doc.events,
            recentAttempts: attempts.length,
            recentSucceeded: attempts.filter((a) => a.outcome === 'succeeded').length,
            backlog: backlog.pending,
            failed: backlog.failed,
            ...(backlog.oldestPendingAt && { oldestPendingAt: backlog.oldestPendingAt.toISOString() }),
            lastFailures: attempts.filter((a) => a.outcome !== 'succeeded').slice(0, 5),
          };
        }),
      ),
    };
  }

  return async function handleWebhookAdminBatch(entries: StreamEntry[]): Promise<void> {
    const { items: requests, setAside } = decodeEntries(webhookAdminCodec, entries, (req, entry) => ({
      req,
      at: new Date(entryTime(entry.id)),
    }));
    // Side by side: one URL's slow DNS answer must not hold the requests read with it.
    const replies: { replyTo: string; reply: Reply }[] = await Promise.all(
      requests.map(async ({ req, at }) => {
        const r = await answer(req, at);
        return {
          replyTo: req.replyTo,
          reply: r.ok
            ? { correlationId: req.correlationId, ok: true as const, result: r.result }
            : { correlationId: req.correlationId, ok: false as const, error: { code: r.code, message: r.message } },
        };
      }),
    );
    await writeInOrder(deps.redis, [
      (pipe) => queueReplies(pipe, replies),
      (pipe) => {
        queueDeadItems(pipe, deps.keys.webhookAdmin, deps.group, setAside);
        pipe.xack(deps.keys.webhookAdmin, deps.group, ...entries.map((e) => e.id));
        // Answered, they are of no more use, and a URL may carry a password: not kept in Redis.
        pipe.xdel(deps.keys.webhookAdmin, ...entries.map((e) => e.id));
      },
    ]);
  };
}
