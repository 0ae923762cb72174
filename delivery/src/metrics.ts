import { Gauge, Histogram } from 'prom-client';
import {
  createBatchSizes,
  createLedgerCounter,
  createMetricsRegistry,
  LATENCY_BUCKETS_SECONDS,
  registerStreamGauges,
  type LedgerCounter,
  type RedisClient,
  type Registry,
} from '@pushflow/shared';

/** What a delivery node measures: its partition, its sockets, the events it writes. */
export interface DeliveryMetrics {
  registry: Registry;
  ledger: LedgerCounter;
  /** The partition consumer's onBatch hook. */
  batchSize: (size: number) => void;
  /** Seconds from the dispatcher accepting a notification to its frame reaching a socket here. */
  acceptToDeliver: (seconds: number) => void;
  /** Reads the open connection count at each scrape. */
  watchConnections(count: () => number): void;
}

export interface DeliveryMetricsDeps {
  /** main.ts passes one with the process metrics; tests leave it out. */
  registry?: Registry;
  redis: RedisClient;
  prefix: string;
  /** The node's partition stream key. */
  stream: string;
  group: string;
}

export function createDeliveryMetrics(deps: DeliveryMetricsDeps): DeliveryMetrics {
  const registry = deps.registry ?? createMetricsRegistry('delivery');
  registerStreamGauges(registry, { redis: deps.redis, prefix: deps.prefix, streams: [deps.stream] });
  const latency = new Histogram({
    name: 'pushflow_accept_to_deliver_seconds',
    help: 'Time from a notification being accepted to its frame being handed to a socket',
    buckets: LATENCY_BUCKETS_SECONDS,
    registers: [registry],
  });
  let connections: () => number = () => 0;
  new Gauge({
    name: 'pushflow_open_connections',
    help: 'Open, accepted WebSocket connections on this node',
    registers: [registry],
    collect() {
      this.set(connections());
    },
  });
  return {
    registry,
    ledger: createLedgerCounter(registry),
    batchSize: createBatchSizes(registry, deps.prefix)(deps.stream, deps.group),
    // Clocks of two hosts may disagree by a little; a negative latency says nothing useful.
    acceptToDeliver: (seconds) => latency.observe(Math.max(0, seconds)),
    watchConnections(count) {
      connections = count;
    },
  };
}
