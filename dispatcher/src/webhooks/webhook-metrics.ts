import { Counter, Gauge, Histogram } from 'prom-client';
import { within, type Registry } from '@pushflow/shared';
import type { Endpoints } from './endpoint-store.ts';
import { backlogOf, type Messages } from './message-store.ts';
import type { AttemptOutcome } from './relay.ts';

/**
 * The relay's metrics, labelled by endpoint id. Attempts and their latency are counted as
 * they happen; the backlog (stored messages waiting for a retry, plus those this dispatcher
 * holds in memory) and the age of the oldest pending message are read from MongoDB when
 * Prometheus scrapes, bounded in time like the stream gauges. The ledger side of the
 * backlog, events the relay has not read, is `pushflow_stream_lag{group="webhooks"}`.
 */
export function registerWebhookMetrics(
  registry: Registry,
  deps: { endpoints: Endpoints; messages: Messages; inMemory(endpointId: string): number; timeoutMs?: number },
) {
  const attempts = new Counter({
    name: 'pushflow_webhook_attempts_total',
    help: 'Webhook POSTs by endpoint and outcome (succeeded, http_error, timeout, refused, network_error)',
    labelNames: ['endpoint', 'outcome'],
    registers: [registry],
  });
  const latency = new Histogram({
    name: 'pushflow_webhook_attempt_duration_seconds',
    help: 'Time from sending a webhook POST to its answer (or error), by endpoint',
    labelNames: ['endpoint'],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [registry],
  });

  let reading: Promise<Map<string, { backlog: number; failed: number; oldestAgeS: number }> | undefined> | undefined;
  const read = () =>
    (reading ??= within(
      deps.timeoutMs ?? 1000,
      (async () => {
        const out = new Map<string, { backlog: number; failed: number; oldestAgeS: number }>();
        for (const ep of await deps.endpoints.find({}, { projection: { _id: 1 } }).toArray()) {
          const b = await backlogOf(deps.messages, ep._id);
          out.set(ep._id, {
            backlog: b.pending + deps.inMemory(ep._id),
            failed: b.failed,
            oldestAgeS: b.oldestPendingAt ? Math.max(0, (Date.now() - b.oldestPendingAt.getTime()) / 1000) : 0,
          });
        }
        return out;
      })(),
    ).finally(() => {
      reading = undefined;
    }));
  const gauge = (name: string, help: string, pick: (v: { backlog: number; failed: number; oldestAgeS: number }) => number) =>
    new Gauge({
      name,
      help,
      labelNames: ['endpoint'],
      registers: [registry],
      async collect() {
        const all = await read();
        this.reset();
        for (const [endpoint, v] of all ?? []) this.set({ endpoint }, pick(v));
      },
    });
  gauge(
    'pushflow_webhook_backlog',
    'Webhook messages waiting: stored for a retry (every dispatcher reports the same) plus held in memory by this dispatcher',
    (v) => v.backlog,
  );
  gauge(
    'pushflow_webhook_oldest_pending_age_seconds',
    'Age of the oldest webhook message stored for a retry (0: none)',
    (v) => v.oldestAgeS,
  );
  gauge('pushflow_webhook_failed_messages', 'Webhook messages whose retry schedule is spent, kept until retry-failed', (v) => v.failed);

  return (endpointId: string, outcome: AttemptOutcome, latencyMs: number) => {
    attempts.inc({ endpoint: endpointId, outcome });
    latency.observe({ endpoint: endpointId }, latencyMs / 1000);
  };
}
