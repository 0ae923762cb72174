import { Redis, type RedisOptions } from 'ioredis';
import type { Logger } from './logger.ts';

export type { Redis } from 'ioredis';

export interface StreamEntry {
  id: string;
  fields: string[];
  /** Read again after a failure or a crash, or claimed from a dead consumer: its effects may already exist. */
  redelivered?: boolean;
}

/**
 * A client that reconnects with capped exponential backoff forever: services recover by
 * themselves when Redis comes back. `failFast` clients reject commands at once while
 * disconnected (the gateway answers 503 instead of queueing requests behind an outage).
 */
export function createRedis(url: string, name: string, opts: { failFast?: boolean; log?: Logger } = {}): Redis {
  const options: RedisOptions = {
    connectionName: name,
    lazyConnect: false,
    retryStrategy: (attempt) => Math.min(50 * 2 ** Math.min(attempt, 7), 2000),
    maxRetriesPerRequest: opts.failFast ? 1 : null,
    enableOfflineQueue: !opts.failFast,
  };
  const client = new Redis(url, options);
  // Without a listener ioredis prints every reconnect failure as an unhandled error with a
  // stack; one warning line per failure says the same, as JSON, without the command's args.
  const { log } = opts;
  if (log) client.on('error', (err: Error) => log.warn({ connection: name, err: err.message }, 'redis connection error'));
  return client;
}

/** Creates the group (and the stream); a group that exists already is what we want. */
export async function ensureGroup(redis: Redis, stream: string, group: string, startId = '0'): Promise<void> {
  try {
    await redis.xgroup('CREATE', stream, group, startId, 'MKSTREAM');
  } catch (err) {
    if (!isRedisError(err, 'BUSYGROUP')) throw err;
  }
}

export function isRedisError(err: unknown, prefix: string): boolean {
  return err instanceof Error && err.message.startsWith(prefix);
}

type RawStreamReply = [string, [string, string[] | null][]][] | null;

/** XREADGROUP for one stream; entries whose data was trimmed away come back with no fields. */
export async function readGroup(
  redis: Redis,
  args: { stream: string; group: string; consumer: string; count: number; blockMs?: number; id: string },
): Promise<StreamEntry[]> {
  const block = args.blockMs === undefined ? [] : ['BLOCK', args.blockMs];
  const reply = (await redis.call(
    'XREADGROUP', 'GROUP', args.group, args.consumer, 'COUNT', args.count, ...block,
    'STREAMS', args.stream, args.id,
  )) as RawStreamReply;
  return toEntries(reply);
}

export function toEntries(reply: RawStreamReply): StreamEntry[] {
  const entries: StreamEntry[] = [];
  for (const [, items] of reply ?? []) for (const [id, fields] of items) entries.push({ id, fields: fields ?? [] });
  return entries;
}
