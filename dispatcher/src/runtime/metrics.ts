import { Gauge } from 'prom-client';
import {
  createBatchSizes,
  createLedgerCounter,
  createMetricsRegistry,
  registerStreamGauges,
  type Keys,
  type LedgerCounter,
  type RedisClient,
  type Registry,
} from '@pushflow/shared';

/** What the dispatcher measures: the ledger events it writes, and its three consumer groups. */
export interface DispatcherMetrics {
  registry: Registry;
  ledger: LedgerCounter;
  /** The consumer's onBatch hook for a stream key and group. */
  batches(streamKey: string, group: string): (size: number) => void;
  /** Told the partitions this dispatcher holds whenever that changes. */
  partitionsHeld(held: number[]): void;
}

export function createDispatcherMetrics(deps: { redis: RedisClient; keys: Keys; prefix: string }): DispatcherMetrics {
  const registry = createMetricsRegistry('dispatcher', { processMetrics: true });
  const { keys } = deps;
  registerStreamGauges(registry, {
    redis: deps.redis,
    prefix: deps.prefix,
    streams: [...keys.allCommands, keys.queries, ...keys.allEvents],
  });
  const held = new Gauge({
    name: 'pushflow_dispatcher_partition_held',
    help: 'Whether this dispatcher holds the partition (consumes its commands and events streams): 1 or 0',
    labelNames: ['partition'],
    registers: [registry],
  });
  const count = new Gauge({ name: 'pushflow_dispatcher_partitions_held', help: 'Partitions this dispatcher holds', registers: [registry] });
  const partitionsHeld = (list: number[]) => {
    const set = new Set(list);
    for (let p = 0; p < keys.partitions; p++) held.set({ partition: String(p) }, set.has(p) ? 1 : 0);
    count.set(set.size);
  };
  partitionsHeld([]);
  return { registry, ledger: createLedgerCounter(registry), batches: createBatchSizes(registry, deps.prefix), partitionsHeld };
}
