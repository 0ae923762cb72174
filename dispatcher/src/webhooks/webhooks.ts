import type { Db } from 'mongodb';
import { ensureGroup, groups, type Keys, type Logger, type RedisClient, type Registry } from '@pushflow/shared';
import type { DispatcherConfig } from '../config.ts';
import type { Notifications } from '../projection/store.ts';
import { createWebhookAdminHandler } from './admin.ts';
import { createAttemptLog } from './attempt-log.ts';
import { createEndpointCache } from './endpoint-cache.ts';
import { endpointsCollection, type Endpoints } from './endpoint-store.ts';
import { createMessageWriter, openMessages, type Messages } from './message-store.ts';
import { createPoster } from './poster.ts';
import { createWebhookRelay, type WebhookRelay } from './relay.ts';
import { parseRetrySchedule } from './retry-schedule.ts';
import { registerWebhookMetrics } from './webhook-metrics.ts';

/** The dispatcher's webhook parts, put together: one relay per process, its admin handler, its metrics. */
export interface Webhooks {
  relay: WebhookRelay;
  endpoints: Endpoints;
  messages: Messages;
  adminHandler: ReturnType<typeof createWebhookAdminHandler>;
  /** Creates the relay's group on every events partition, at the end: a new relay does not replay the ledger. */
  ensureGroups(): Promise<void>;
}

export async function openWebhooks(deps: {
  config: DispatcherConfig;
  redis: RedisClient;
  keys: Keys;
  db: Db;
  notifications: Notifications;
  registry: Registry;
  log: Logger;
}): Promise<Webhooks> {
  const { config, redis, keys, log } = deps;
  const endpoints = endpointsCollection(deps.db);
  const messages = await openMessages(deps.db);
  const schedule = parseRetrySchedule(config.PUSHFLOW_WEBHOOK_RETRY_SCHEDULE);
  if (schedule instanceof Error) throw schedule; // loadDispatcherConfig refused it already
  const log_ = log.child({ part: 'webhooks' });
  let onAttempt: ReturnType<typeof registerWebhookMetrics> | undefined;
  const relay = createWebhookRelay({
    redis,
    keys,
    notifications: deps.notifications,
    messages,
    writer: createMessageWriter(messages, (err) =>
      log_.warn({ err: (err as Error).message }, 'webhook retry store write failed; retrying'),
    ),
    cache: createEndpointCache({ redis, keys, endpoints }),
    poster: createPoster({
      timeoutMs: config.PUSHFLOW_WEBHOOK_TIMEOUT_MS,
      maxResponseBytes: config.PUSHFLOW_WEBHOOK_MAX_RESPONSE_BYTES,
      allowPrivate: config.PUSHFLOW_WEBHOOK_ALLOW_PRIVATE,
      connections: config.PUSHFLOW_WEBHOOK_CONCURRENCY,
    }),
    attempts: createAttemptLog({
      redis,
      keys,
      onError: (err) => log_.warn({ err: (err as Error).message }, 'could not record webhook attempts'),
    }),
    settings: {
      schedule,
      timeoutMs: config.PUSHFLOW_WEBHOOK_TIMEOUT_MS,
      concurrency: config.PUSHFLOW_WEBHOOK_CONCURRENCY,
      handoffMs: config.PUSHFLOW_WEBHOOK_HANDOFF_MS,
      pollMs: config.PUSHFLOW_WEBHOOK_POLL_MS,
      claimIdleMs: config.PUSHFLOW_CLAIM_IDLE_MS,
      consumer: config.PUSHFLOW_CONSUMER_ID,
    },
    log: log_,
    onAttempt: (endpointId, outcome, latencyMs) => onAttempt?.(endpointId, outcome, latencyMs),
  });
  onAttempt = registerWebhookMetrics(deps.registry, { endpoints, messages, inMemory: relay.inMemory });
  if (config.PUSHFLOW_WEBHOOK_ALLOW_PRIVATE)
    log_.warn('PUSHFLOW_WEBHOOK_ALLOW_PRIVATE=true: webhooks may reach loopback and private addresses');
  const adminHandler = createWebhookAdminHandler({
    redis,
    keys,
    endpoints,
    messages,
    relay,
    allowPrivate: config.PUSHFLOW_WEBHOOK_ALLOW_PRIVATE,
    secretOverlapMs: config.PUSHFLOW_WEBHOOK_ROTATION_OVERLAP_SECONDS * 1000,
    log: log_,
    group: groups.dispatcher,
  });
  return {
    relay,
    endpoints,
    messages,
    adminHandler,
    async ensureGroups() {
      for (const stream of keys.allEvents) await ensureGroup(redis, stream, groups.webhooks, '$');
    },
  };
}
