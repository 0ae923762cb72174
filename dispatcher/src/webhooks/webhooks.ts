import type { Db } from 'mongodb';
import { ensureGroup, groups, type Keys, type Logger, type RedisClient, type Registry } from '@pushflow/shared';
import type { DispatcherConfig } from '../config.ts';
import { createWebhookAdminHandler } from './admin.ts';
import { endpointsCollection, type Endpoints } from './endpoint-store.ts';
import { openMessages, type Messages } from './message-store.ts';
import { startRelayThread, type RelayThread } from './relay-host.ts';
import { registerWebhookMetrics } from './webhook-metrics.ts';

/** The dispatcher's webhook parts, put together: the relay's thread, its admin handler, its metrics. */
export interface Webhooks {
  relay: RelayThread;
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
  registry: Registry;
  log: Logger;
  /** Told of every batch the relay's consumers take, for the metrics. */
  onBatch(stream: string, size: number): void;
  onCrash(err: Error): void;
}): Promise<Webhooks> {
  const { config, redis, keys, log } = deps;
  const endpoints = endpointsCollection(deps.db);
  const messages = await openMessages(deps.db);
  const log_ = log.child({ part: 'webhooks' });
  let onAttempt: ReturnType<typeof registerWebhookMetrics> | undefined;
  const relay = startRelayThread({
    config,
    log,
    onAttempt: (endpointId, outcome, latencyMs) => onAttempt?.(endpointId, outcome, latencyMs),
    onBatch: deps.onBatch,
    onCrash: deps.onCrash,
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
