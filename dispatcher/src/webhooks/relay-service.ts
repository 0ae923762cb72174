import type { Db } from 'mongodb';
import { groups, startConsumer, type Keys, type Logger, type RedisClient } from '@pushflow/shared';
import type { DispatcherConfig } from '../config.ts';
import { notificationsCollection } from '../projection/store.ts';
import { consumerOptions } from '../runtime/consumer-options.ts';
import { createAttemptLog } from './attempt-log.ts';
import { createEndpointCache } from './endpoint-cache.ts';
import { endpointsCollection } from './endpoint-store.ts';
import { followLedger, type LedgerFollower } from './ledger-follower.ts';
import { createMessageWriter, messagesCollection } from './message-store.ts';
import { createPoster } from './poster.ts';
import { createWebhookRelay, type AttemptOutcome } from './relay.ts';
import { parseRetrySchedule } from './retry-schedule.ts';

/**
 * The webhook relay's composition root, run on the relay's own thread (relay-thread.ts):
 * the relay and, on each events partition the main thread's leases hold, its place in the
 * `webhooks` group: a consumer while some endpoint is enabled (ledger-follower.ts).
 */
export interface RelayService {
  consume(partition: number, reclaim: boolean): void;
  release(partition: number): Promise<void>;
  sendTest(endpointId: string): Promise<string>;
  /** Messages held in memory, per endpoint that has any. */
  inMemory(): [string, number][];
  halt(): void;
  /** Stops the consumers, then the relay (its hand-off to MongoDB); leaves the connections to the caller. */
  stop(): Promise<void>;
}

export interface RelayServiceDeps {
  config: DispatcherConfig;
  redis: RedisClient;
  /** A new connection for one blocking reader, which closes it when it stops. */
  connect(name: string): RedisClient;
  keys: Keys;
  db: Db;
  log: Logger;
  onAttempt(endpointId: string, outcome: AttemptOutcome, latencyMs: number): void;
  onBatch(stream: string, size: number): void;
}

export function startRelayService(deps: RelayServiceDeps): RelayService {
  const { config, redis, keys, log } = deps;
  const schedule = parseRetrySchedule(config.PUSHFLOW_WEBHOOK_RETRY_SCHEDULE);
  if (schedule instanceof Error) throw schedule; // loadDispatcherConfig refused it already
  // The main thread opened both collections (their indexes) before it started this one.
  const messages = messagesCollection(deps.db);
  // One cache for the relay and the followers: both read the same version counter.
  const cache = createEndpointCache({ redis, keys, endpoints: endpointsCollection(deps.db) });
  const relay = createWebhookRelay({
    redis,
    keys,
    notifications: notificationsCollection(deps.db),
    messages,
    writer: createMessageWriter(messages, (err) => log.warn({ err: (err as Error).message }, 'webhook retry store write failed; retrying')),
    cache,
    poster: createPoster({
      timeoutMs: config.PUSHFLOW_WEBHOOK_TIMEOUT_MS,
      maxResponseBytes: config.PUSHFLOW_WEBHOOK_MAX_RESPONSE_BYTES,
      allowPrivate: config.PUSHFLOW_WEBHOOK_ALLOW_PRIVATE,
      connections: config.PUSHFLOW_WEBHOOK_CONCURRENCY,
    }),
    attempts: createAttemptLog({
      redis,
      keys,
      onError: (err) => log.warn({ err: (err as Error).message }, 'could not record webhook attempts'),
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
    log,
    onAttempt: deps.onAttempt,
  });

  const followers = new Map<number, LedgerFollower>();
  async function release(p: number): Promise<void> {
    const f = followers.get(p);
    followers.delete(p);
    await f?.stop();
  }
  return {
    consume(p, reclaim) {
      if (followers.has(p)) return;
      const events = keys.events(p);
      const partition = keys.partitions > 1 ? `-${p}` : '';
      followers.set(
        p,
        followLedger({
          redis,
          stream: events,
          group: groups.webhooks,
          cache,
          pollMs: config.PUSHFLOW_WEBHOOK_POLL_MS,
          log,
          // On a connection of its own: a relay behind on the ledger never holds the projector.
          consume: () =>
            startConsumer({
              ...consumerOptions(config, log),
              reclaimAtStart: reclaim,
              lingerMs: config.PUSHFLOW_WEBHOOK_LINGER_MS,
              redis: deps.connect(`dispatcher-webhooks${partition}`),
              stream: events,
              group: groups.webhooks,
              handler: relay.ledgerHandler(events, groups.webhooks),
              onBatch: (size) => deps.onBatch(events, size),
            }),
        }),
      );
    },
    release,
    sendTest: relay.sendTest,
    inMemory: relay.inMemory,
    halt: relay.halt,
    async stop() {
      relay.halt();
      await Promise.all([...followers.keys()].map(release));
      await relay.stop();
    },
  };
}
