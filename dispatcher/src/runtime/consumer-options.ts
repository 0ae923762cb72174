import type { Logger } from '@pushflow/shared';
import type { DispatcherConfig } from '../config.ts';

/** What every consumer of the dispatcher shares, the webhook relay's thread included. */
export function consumerOptions(config: DispatcherConfig, log: Logger) {
  return {
    count: config.PUSHFLOW_BATCH_SIZE,
    blockMs: config.PUSHFLOW_BLOCK_MS,
    consumer: config.PUSHFLOW_CONSUMER_ID,
    log,
    claimIdleMs: config.PUSHFLOW_CLAIM_IDLE_MS,
    maxAttempts: config.PUSHFLOW_MAX_ATTEMPTS,
  };
}
