import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis';
import type { Logger } from '../observability/logger.ts';
import { backoffMs } from '../runtime/backoff.ts';
import { urlCredentials } from '../config/url-credentials.ts';
import { within } from '../runtime/within.ts';

export type { Redis, Cluster } from 'ioredis';

/** What a service talks to: one Redis, or a Redis Cluster (ioredis's Cluster client). */
export type RedisClient = Redis | Cluster;

export interface StreamEntry {
  id: string;
  fields: string[];
  /** Read again after a failure or a crash, or claimed from a dead consumer: its effects may already exist. */
  redelivered?: boolean;
}

/** `redis-cluster://[user:password@]host:port[,host:port...]`; `rediss-cluster://` for TLS. */
export const CLUSTER_URL = /^(rediss?)-cluster:\/\/(?:([^@/?#]*)@)?([A-Za-z0-9._-]+:[0-9]+(?:,[A-Za-z0-9._-]+:[0-9]+)*)\/?$/;

export function isClusterUrl(url: string): boolean {
  return /^rediss?-cluster:\/\//i.test(url);
}

/** The seed nodes and credentials of a cluster URL; undefined when it is not one. */
export function parseClusterUrl(
  url: string,
): { seeds: { host: string; port: number }[]; tls: boolean; username?: string; password?: string } | undefined {
  const m = CLUSTER_URL.exec(url);
  if (!m) return undefined;
  const creds = urlCredentials(url);
  return {
    tls: m[1] === 'rediss',
    seeds: m[3]!.split(',').map((hp) => {
      const i = hp.lastIndexOf(':');
      return { host: hp.slice(0, i), port: Number(hp.slice(i + 1)) };
    }),
    ...(creds?.username && { username: creds.username }),
    ...(creds?.password && { password: creds.password }),
  };
}

const backoff = (attempt: number) => backoffMs(attempt, 50, 2000);

/**
 * A client that reconnects with capped exponential backoff forever: services recover by
 * themselves when Redis comes back. `failFast` clients reject commands at once while
 * disconnected (the gateway answers 503 instead of queueing requests behind an outage).
 * A `redis-cluster://` URL gives ioredis's Cluster client with the same behaviour; it
 * reads from masters only, so a read follows the writes before it.
 */
export interface RedisClientOptions {
  failFast?: boolean;
  log?: Logger;
  /**
   * A command unanswered this long is rejected (ioredis `commandTimeout`): a Redis that
   * takes requests and never answers (frozen, a black-holed route) must not hang a caller
   * that promised an answer in bounded time, as the gateway does.
   */
  commandTimeoutMs?: number;
}

export function createRedis(url: string, name: string, opts: RedisClientOptions = {}): RedisClient {
  const client = isClusterUrl(url)
    ? createCluster(url, name, opts)
    : new Redis(url, {
        connectionName: name,
        ...(opts.commandTimeoutMs !== undefined && { commandTimeout: opts.commandTimeoutMs }),
        lazyConnect: false,
        retryStrategy: backoff,
        maxRetriesPerRequest: opts.failFast ? 1 : null,
        enableOfflineQueue: !opts.failFast,
      } satisfies RedisOptions);
  // Without a listener ioredis prints every reconnect failure as an unhandled error with a
  // stack; one warning line per failure says the same, as JSON, without the command's args.
  const { log } = opts;
  if (log) client.on('error', (err: Error) => log.warn({ connection: name, err: err.message }, 'redis connection error'));
  return client;
}

function createCluster(url: string, name: string, opts: RedisClientOptions): Cluster {
  const parsed = parseClusterUrl(url);
  if (!parsed) throw new Error(`REDIS_URL: not a cluster URL of the form redis-cluster://host:port[,host:port...]`);
  const options: ClusterOptions = {
    lazyConnect: false,
    scaleReads: 'master',
    // Redial the seeds forever, as a single client reconnects forever.
    clusterRetryStrategy: backoff,
    enableOfflineQueue: !opts.failFast,
    // A failover takes cluster-node-timeout plus an election: commands wait through it
    // (MOVED/CLUSTERDOWN/TRYAGAIN retried) instead of failing the batch at once; a
    // failFast client gives up after about a second and a half.
    retryDelayOnFailover: 200,
    retryDelayOnClusterDown: 200,
    retryDelayOnTryAgain: 200,
    maxRedirections: opts.failFast ? 8 : 64,
    // Learns of replicas that joined (or came back) without a MOVED: ordered-writes.ts waits
    // for a replica only where the slot map lists one.
    slotsRefreshInterval: 5000,
    redisOptions: {
      connectionName: name,
      maxRetriesPerRequest: opts.failFast ? 1 : null,
      ...(opts.commandTimeoutMs !== undefined && { commandTimeout: opts.commandTimeoutMs }),
      ...(parsed.username !== undefined && { username: parsed.username }),
      ...(parsed.password !== undefined && { password: parsed.password }),
      ...(parsed.tls && { tls: {} }),
    },
  };
  return new Cluster(parsed.seeds, options);
}

/** Every master of a cluster (for SCAN, which sees one node's keys), or the one Redis. */
export function masters(redis: RedisClient): Redis[] {
  return redis instanceof Cluster ? redis.nodes('master') : [redis];
}

/** Creates the group (and the stream); a group that exists already is what we want. */
export async function ensureGroup(redis: RedisClient, stream: string, group: string, startId = '0'): Promise<void> {
  try {
    await redis.xgroup('CREATE', stream, group, startId, 'MKSTREAM');
  } catch (err) {
    if (!isRedisError(err, 'BUSYGROUP')) throw err;
  }
}

/**
 * Whether Redis answers a PING within `ms`, for readiness checks. A client that queues
 * commands while disconnected would otherwise hold the check through a whole outage.
 */
export async function pingWithin(redis: RedisClient, ms: number): Promise<boolean> {
  return (
    (await within(
      ms,
      redis.ping().then(() => true),
    )) ?? false
  );
}

export function isRedisError(err: unknown, prefix: string): boolean {
  return err instanceof Error && err.message.startsWith(prefix);
}

type RawStreamReply = [string, [string, string[] | null][]][] | null;

/** XREADGROUP for one stream; entries whose data was trimmed away come back with no fields. */
export async function readGroup(
  redis: RedisClient,
  args: { stream: string; group: string; consumer: string; count: number; blockMs?: number; id: string },
): Promise<StreamEntry[]> {
  const block = args.blockMs === undefined ? [] : ['BLOCK', args.blockMs];
  const reply = (await redis.call(
    'XREADGROUP',
    'GROUP',
    args.group,
    args.consumer,
    'COUNT',
    args.count,
    ...block,
    'STREAMS',
    args.stream,
    args.id,
  )) as RawStreamReply;
  return toEntries(reply);
}

/** A command to pipeline behind a read, and what became of it. */
export type AlongCommand = [command: string, ...args: (string | number)[]];
export type AlongResult = { reply: unknown } | { err: Error };

/**
 * readGroup with a second command pipelined behind it on the same connection. Redis keeps
 * a blocked client's next command in its buffer and runs it the moment the read returns,
 * so its answer is as fresh as the entries, for no round trip or system call of its own.
 * The read's failure throws, as readGroup's; the second command's is returned.
 */
export async function readGroupWith(
  redis: RedisClient,
  args: { stream: string; group: string; consumer: string; count: number; blockMs: number; id: string },
  along: AlongCommand,
): Promise<{ entries: StreamEntry[]; along: AlongResult }> {
  const results = await redis
    .pipeline()
    .call('XREADGROUP', 'GROUP', args.group, args.consumer, 'COUNT', args.count, 'BLOCK', args.blockMs, 'STREAMS', args.stream, args.id)
    .call(...along)
    .exec();
  const [read, second] = results ?? [];
  if (!read || !second) throw new Error('pipelined read got no reply');
  if (read[0]) throw read[0];
  return { entries: toEntries(read[1] as RawStreamReply), along: second[0] ? { err: second[0] } : { reply: second[1] } };
}

export function toEntries(reply: RawStreamReply): StreamEntry[] {
  const entries: StreamEntry[] = [];
  for (const [, items] of reply ?? []) for (const [id, fields] of items) entries.push({ id, fields: fields ?? [] });
  return entries;
}

/** SCAN MATCH over every master (a cluster node's SCAN sees only its own keys), a batch at a time. */
export async function* scanKeys(redis: RedisClient, pattern: string, count = 1000, type?: string): AsyncGenerator<string[]> {
  for (const node of masters(redis)) {
    let cursor = '0';
    do {
      const [next, found] = (await node.call('SCAN', cursor, 'MATCH', pattern, ...(type ? ['TYPE', type] : []), 'COUNT', count)) as [
        string,
        string[],
      ];
      cursor = next;
      if (found.length > 0) yield found;
    } while (cursor !== '0');
  }
}
