import {
  createBatchSizes, createLedgerCounter, createMetricsRegistry, registerStreamGauges,
  type Keys, type LedgerCounter, type RedisClient, type Registry,
} from '@pushflow/shared';

/** What the dispatcher measures: the ledger events it writes, and its three consumer groups. */
export interface DispatcherMetrics {
  registry: Registry;
  ledger: LedgerCounter;
  /** The consumer's onBatch hook for a stream key and group. */
  batches(streamKey: string, group: string): (size: number) => void;
}

export function createDispatcherMetrics(deps: { redis: RedisClient; keys: Keys; prefix: string }): DispatcherMetrics {
  const registry = createMetricsRegistry('dispatcher', { processMetrics: true });
  registerStreamGauges(registry, { redis: deps.redis, prefix: deps.prefix, streams: [deps.keys.commands, deps.keys.queries, deps.keys.events] });
  return { registry, ledger: createLedgerCounter(registry), batches: createBatchSizes(registry, deps.prefix) };
}
