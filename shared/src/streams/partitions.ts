import { backoffMs } from '../runtime/backoff.ts';
import { exitForConfig } from '../config/config.ts';
import type { Keys } from './keys.ts';
import type { Logger } from '../observability/logger.ts';
import type { RedisClient } from './redis.ts';

/**
 * Services that disagree on P would strand notifications: a gateway appending to a
 * partition no dispatcher reads, events projected by nobody. The first service to start
 * records its P in Redis; every service compares its own with the record before it
 * touches a stream.
 */
export class PartitionMismatch extends Error {
  readonly code = 'PUSHFLOW_PARTITIONS_MISMATCH';
  readonly configured: number;
  readonly recorded: number;
  constructor(configured: number, recorded: number, prefix: string) {
    super(
      `PUSHFLOW_PARTITIONS is ${configured} but this deployment's streams are split into ${recorded} partitions ` +
        `(recorded in ${prefix}partitions). Run every service with PUSHFLOW_PARTITIONS=${recorded}; to repartition, ` +
        `stop the gateways, let the dispatchers and delivery nodes drain every stream, stop them, ` +
        `delete ${prefix}partitions, then start everything with the new value.`,
    );
    this.name = 'PartitionMismatch';
    this.configured = configured;
    this.recorded = recorded;
  }
}

/** Records P if nothing is recorded yet; throws PartitionMismatch if another P is. */
export async function checkPartitions(redis: RedisClient, keys: Keys): Promise<void> {
  const configured = keys.partitions;
  await redis.set(keys.partitionCount, String(configured), 'NX');
  const recorded = Number(await redis.get(keys.partitionCount));
  if (recorded !== configured) throw new PartitionMismatch(configured, recorded, keys.partitionCount.slice(0, -'partitions'.length));
}

/** What P a deployment runs with, for tools that have no configuration of their own (the CLI). */
export async function recordedPartitions(redis: RedisClient, keys: Keys): Promise<number | undefined> {
  const recorded = await redis.get(keys.partitionCount);
  return recorded === null ? undefined : Number(recorded);
}

/**
 * For a service's start: a mismatch stops the process with the message, like a bad setting.
 * While Redis does not answer (down, a wrong password) it keeps trying: the service stays
 * up and not ready, as it does for any Redis outage.
 */
export async function checkPartitionsOrExit(redis: RedisClient, keys: Keys, service: string, log: Logger): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    try {
      await checkPartitions(redis, keys);
      return;
    } catch (err) {
      if (err instanceof PartitionMismatch) {
        exitForConfig(service, err.message);
      }
      log.warn({ err: (err as Error).message }, 'cannot check PUSHFLOW_PARTITIONS against Redis yet; retrying');
      await new Promise((r) => setTimeout(r, backoffMs(attempt, 250, 5000)));
    }
  }
}
