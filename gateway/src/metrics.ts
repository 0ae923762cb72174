import { Counter, Histogram } from 'prom-client';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { createMetricsRegistry, LATENCY_BUCKETS_SECONDS, type Registry } from '@pushflow/shared';

/** What the gateway measures: its HTTP requests and the ones its rate limit refused. */
export interface GatewayMetrics {
  registry: Registry;
  /** An onResponse hook timing every request. */
  timeRequest(request: FastifyRequest, reply: FastifyReply): Promise<void>;
  /** The same for a request Fastify never saw (the send route's fast path). */
  observeRequest(method: string, route: string, statusCode: number, seconds: number): void;
  rateLimited(): void;
}

/** Requests that match no route share one label value: a URL would make a series per probe. */
export const UNMATCHED_ROUTE = 'unmatched';

export function createGatewayMetrics(registry: Registry = createMetricsRegistry('gateway')): GatewayMetrics {
  const duration = new Histogram({
    name: 'pushflow_http_request_duration_seconds',
    help: 'Gateway HTTP request duration, by method, route pattern and status code',
    labelNames: ['method', 'route', 'status_code'],
    buckets: LATENCY_BUCKETS_SECONDS,
    registers: [registry],
  });
  const limited = new Counter({
    name: 'pushflow_rate_limited_requests_total',
    help: 'Requests refused with 429 because their API key was over its rate',
    registers: [registry],
  });
  return {
    registry,
    async timeRequest(request, reply) {
      duration.observe(
        { method: request.method, route: request.routeOptions.url ?? UNMATCHED_ROUTE, status_code: reply.statusCode },
        reply.elapsedTime / 1000,
      );
    },
    observeRequest(method, route, statusCode, seconds) {
      duration.observe({ method, route, status_code: statusCode }, seconds);
    },
    rateLimited: () => limited.inc(),
  };
}
