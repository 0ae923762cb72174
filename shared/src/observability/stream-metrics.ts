import { Gauge, Histogram, type Registry } from 'prom-client';
import { parseGroups } from '../streams/consumer-groups.ts';
import { pipelined } from '../streams/ordered-writes.ts';
import type { RedisClient } from '../streams/redis.ts';
import { within } from '../runtime/within.ts';

/**
 * Consumer-group metrics. Batch sizes are observed by the consumer loop (its onBatch
 * hook); lag and pending are read from Redis (XINFO GROUPS) when Prometheus scrapes, so
 * they cost nothing between scrapes. Streams are labelled by their key without the
 * configured prefix: `commands`, `events`, `deliveries:<nodeId>`.
 */
export function createBatchSizes(registry: Registry, prefix: string): (streamKey: string, group: string) => (size: number) => void {
  const histogram = new Histogram({
    name: 'pushflow_consumer_batch_size',
    help: 'Entries per batch a consumer group read from a stream',
    labelNames: ['stream', 'group'],
    buckets: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10_000],
    registers: [registry],
  });
  return (streamKey, group) => {
    const labels = { stream: streamLabel(streamKey, prefix), group };
    // Exported from the start, at zero, so rate() has a series before the first batch.
    histogram.zero(labels);
    const child = histogram.labels(labels);
    return (size) => child.observe(size);
  };
}

export interface StreamGaugeOptions {
  /** A command connection; a blocking consumer connection would answer only between reads. */
  redis: RedisClient;
  /** Stream keys; every group of each is reported. */
  streams: string[];
  /** Stripped from the keys for the `stream` label. */
  prefix: string;
  /** A scrape never waits longer than this for Redis; the gauges are left out instead. */
  timeoutMs?: number;
}

export interface GroupInfo {
  stream: string;
  group: string;
  /** Entries not yet delivered to the group; null when Redis cannot tell (entries deleted). */
  lag: number | null;
  /** Delivered to a consumer, not yet acked. */
  pending: number;
}

export function registerStreamGauges(registry: Registry, opts: StreamGaugeOptions): void {
  const timeoutMs = opts.timeoutMs ?? 1000;
  // Both gauges are collected at the same scrape, concurrently: they share one read.
  let reading: Promise<GroupInfo[] | undefined> | undefined;
  const read = () =>
    (reading ??= within(timeoutMs, readGroups(opts.redis, opts.streams, opts.prefix)).finally(() => {
      reading = undefined;
    }));

  new Gauge({
    name: 'pushflow_stream_lag',
    help: 'Entries in the stream not yet delivered to the consumer group (XINFO GROUPS lag)',
    labelNames: ['stream', 'group'],
    registers: [registry],
    async collect() {
      const infos = await read();
      this.reset();
      for (const i of infos ?? []) if (i.lag !== null) this.set({ stream: i.stream, group: i.group }, i.lag);
    },
  });
  new Gauge({
    name: 'pushflow_stream_pending',
    help: 'Entries delivered to a consumer of the group and not yet acked (XINFO GROUPS pending)',
    labelNames: ['stream', 'group'],
    registers: [registry],
    async collect() {
      const infos = await read();
      this.reset();
      for (const i of infos ?? []) this.set({ stream: i.stream, group: i.group }, i.pending);
    },
  });
}

/** undefined when Redis is not connected: our clients queue commands through an outage. */
export async function readGroups(redis: RedisClient, streams: string[], prefix: string): Promise<GroupInfo[] | undefined> {
  if (redis.status !== 'ready') return undefined;
  const results = await pipelined(redis, (pipe) => {
    for (const stream of streams) pipe.xinfo('GROUPS', stream);
  });
  const infos: GroupInfo[] = [];
  results.forEach(([err, reply], i) => {
    // A stream that does not exist yet has no groups to report.
    if (err) return;
    const stream = streamLabel(streams[i]!, prefix);
    for (const g of parseGroups(reply)) infos.push({ stream, group: g.name, lag: g.lag, pending: g.pending });
  });
  return infos;
}

export function streamLabel(key: string, prefix: string): string {
  return key.startsWith(prefix) ? key.slice(prefix.length) : key;
}
