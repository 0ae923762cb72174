import { collectDefaultMetrics, Registry } from 'prom-client';

export type { Registry } from 'prom-client';

export interface MetricsRegistryOptions {
  /**
   * Node.js process metrics (CPU, memory, GC, event-loop delay from monitorEventLoopDelay).
   * They watch the whole process, so a service turns them on once, in main.ts; tests that
   * build many apps in one process leave them off.
   */
  processMetrics?: boolean;
}

/** One registry per service process; every series carries `service`. */
export function createMetricsRegistry(service: string, opts: MetricsRegistryOptions = {}): Registry {
  const registry = new Registry();
  registry.setDefaultLabels({ service });
  if (opts.processMetrics) collectDefaultMetrics({ register: registry });
  return registry;
}

/** Buckets for latencies from 1 ms to 10 s, finer where a healthy system sits. */
export const LATENCY_BUCKETS_SECONDS = [
  0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.03, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5, 0.75, 1, 1.5, 2, 3, 5, 7.5, 10,
];
