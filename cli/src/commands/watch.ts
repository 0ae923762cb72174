import type { Cluster, Redis } from 'ioredis';
import type { LedgerEvent } from '@pushflow/shared';
import { commonHelp, commonOptions, parseCommand } from '../args.ts';
import { CliError, EXIT, usageError } from '../errors.ts';
import { paint, printHelp, printJson, type Output, type Style } from '../output.ts';
import { redisSettings, redisUnreachableMessage } from '../settings.ts';
import type { Command } from './command.ts';

const BLOCK_MS = 5000;
/** With several partitions, how long a poll that found nothing waits before the next. */
const POLL_MS = 200;
const CONNECT_TIMEOUT_MS = 5000;

const help = `Usage: pushflow watch [--recipient R] [--notification ID] [--from ID|$] [--redis URL] [--prefix P]

Tails the ledger live: one line per event (accepted, dispatched, delivered, acknowledged,
failed), coloured by type on a terminal. Reads the Redis events stream directly (XREAD
BLOCK), as a plain reader: it joins no consumer group and changes nothing. Ctrl-C stops it
(exit 0). A ledger split into partitions (PUSHFLOW_PARTITIONS > 1; the count is read from
Redis) is read partition by partition, polling, and printed in entry id order per poll.

  --recipient R      only notifications to recipient R (known from their accepted event,
                     so only notifications accepted after --from)
  --notification ID  only events of this notification
  --from ID|$        start after this stream entry id (0 = the whole ledger retention
                     left); $ (default) = only events from now on
  --redis URL        Redis (env REDIS_URL; else a running \`make dev\`'s; else
                     redis://127.0.0.1:6379), or a Redis Cluster as
                     redis-cluster://host:port[,host:port...]
  --prefix P         key prefix (env PUSHFLOW_REDIS_PREFIX; else a running \`make dev\`'s
                     with its Redis; else pushflow:)
${commonHelp}  (with watch: one JSON object per line, {"id": <entry id>, ...event})

Prints "watching <stream> from <id>" on stderr once it is reading.
Exit codes: 0 stopped with Ctrl-C (SIGINT) or SIGTERM, 1 usage, 3 Redis unreachable or lost.
`;

export const watch: Command = {
  name: 'watch',
  summary: 'tail the ledger live, one line per event (Redis XREAD on the events stream)',
  help,
  async run(args, out) {
    const { values } = parseCommand('watch', args, {
      ...commonOptions,
      recipient: { type: 'string' },
      notification: { type: 'string' },
      from: { type: 'string' },
      redis: { type: 'string' },
      prefix: { type: 'string' },
    });
    if (values.help) return printHelp(help);
    // Loaded only here: @pushflow/shared takes most of a second to import.
    const [{ Cluster, Redis }, { compareIds, eventCodec, makeKeys, parseClusterUrl, recordedPartitions, withoutCredentials }] =
      await Promise.all([import('ioredis'), import('@pushflow/shared')]);
    const from = values.from ?? '$';
    if (from !== '$' && !/^\d+(-\d+)?$/.test(from))
      throw usageError(`watch: --from must be a stream entry id (e.g. 1764626400000-0 or 0) or $ (got ${JSON.stringify(from)})`);
    const { url, prefix, found } = redisSettings(values);
    const filter = eventFilter(values.recipient, values.notification);

    // No reconnecting: a tail that silently waits through an outage would look like a quiet
    // ledger. Losing Redis ends the watch with exit 3 instead.
    const options = { connectTimeout: CONNECT_TIMEOUT_MS, maxRetriesPerRequest: 0, connectionName: 'pushflow-cli-watch' };
    const cluster = parseClusterUrl(url);
    const redis: Redis | Cluster = cluster
      ? new Cluster(cluster.seeds, {
          lazyConnect: true,
          clusterRetryStrategy: () => null,
          redisOptions: { ...options, username: cluster.username, password: cluster.password, ...(cluster.tls && { tls: {} }) },
        })
      : new Redis(url, { ...options, lazyConnect: true, retryStrategy: () => null });
    // Each failure also rejects the command in flight, but only the event says why (ECONNREFUSED).
    let lastError: Error | undefined;
    redis.on('error', (err: Error) => (lastError = err));
    let stopping = false;
    const stop = () => {
      stopping = true;
      redis.disconnect();
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    try {
      try {
        await redis.connect();
      } catch (err) {
        const lost = redisLost(url, lastError ?? err, withoutCredentials);
        throw new CliError(lost.exitCode, lost.code, redisUnreachableMessage(lost.message, found));
      }
      // The deployment's own record of P, so the watch needs no setting of its own.
      const keys = makeKeys(prefix, (await recordedPartitions(redis, makeKeys(prefix))) ?? 1);
      const streams = keys.allEvents;
      const after = new Map<string, string>();
      for (const stream of streams) after.set(stream, from === '$' ? await lastId(redis, stream) : from);
      process.stderr.write(
        `watching ${streams.length === 1 ? streams[0] : `${streams.length} partitions of ${keys.events(0)}…`} from ${[...after.values()].sort(compareIds).at(-1)} (Ctrl-C to stop)\n`,
      );
      while (!stopping) {
        const read: [string, string[]][] = [];
        // One stream per XREAD: partitions may sit on different Redis Cluster slots. A single
        // stream can block; several are polled.
        for (const stream of streams) {
          const block = streams.length === 1 ? ['BLOCK', BLOCK_MS] : [];
          const reply = (await redis.call('XREAD', 'COUNT', 500, ...block, 'STREAMS', stream, after.get(stream)!)) as
            | [string, [string, string[]][]][]
            | null;
          const entries = reply?.[0]?.[1] ?? [];
          if (entries.length > 0) after.set(stream, entries[entries.length - 1]![0]);
          read.push(...entries);
        }
        read.sort(([a], [b]) => compareIds(a, b));
        for (const [id, fields] of read) {
          for (const event of eventCodec.items(fields)) if (filter(event)) printEvent(out, id, event);
        }
        if (streams.length > 1 && read.length === 0 && !stopping) await new Promise((r) => setTimeout(r, POLL_MS));
      }
      return EXIT.ok;
    } catch (err) {
      if (stopping) return EXIT.ok;
      throw err instanceof CliError ? err : redisLost(url, lastError ?? err, withoutCredentials);
    } finally {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      redis.disconnect();
    }
  },
};

/** The newest entry's id, so that `$` means "from now" across the successive XREADs too. */
async function lastId(redis: Redis | Cluster, stream: string): Promise<string> {
  const [last] = await redis.xrevrange(stream, '+', '-', 'COUNT', 1);
  return last?.[0] ?? '0-0';
}

function redisLost(url: string, err: unknown, withoutCredentials: (url: string) => string): CliError {
  return new CliError(EXIT.unavailable, 'REDIS_UNREACHABLE', `Redis at ${withoutCredentials(url)}: ${(err as Error).message}`);
}

/**
 * Only `notification.accepted` names the recipient, so --recipient remembers the ids it
 * accepted and follows their later events.
 */
export function eventFilter(recipient: string | undefined, notification: string | undefined): (e: LedgerEvent) => boolean {
  const ofRecipient = new Set<string>();
  return (e) => {
    if (notification !== undefined && e.notificationId !== notification) return false;
    if (recipient === undefined) return true;
    if (e.type === 'notification.accepted' && e.recipientId === recipient) ofRecipient.add(e.notificationId);
    return ofRecipient.has(e.notificationId);
  };
}

const STYLE: Record<LedgerEvent['type'], Style> = {
  'notification.accepted': 'cyan',
  'notification.dispatched': 'blue',
  'notification.delivered': 'green',
  'notification.acknowledged': 'magenta',
  'notification.failed': 'red',
};

function printEvent(out: Output, id: string, e: LedgerEvent): void {
  if (out.json) {
    printJson({ id, ...e });
    return;
  }
  const type = e.type.slice('notification.'.length);
  process.stdout.write(
    `${paint(out, 'dim', new Date(e.at).toISOString())} ${paint(out, STYLE[e.type], type.padEnd(12))} ${e.notificationId} ${detail(e)}\n`,
  );
}

function detail(e: LedgerEvent): string {
  switch (e.type) {
    case 'notification.accepted':
      return `to ${e.recipientId}${e.title !== undefined ? ` ${JSON.stringify(e.title)}` : ''}`;
    case 'notification.dispatched':
      return `to ${e.nodeIds.join(', ')}`;
    case 'notification.delivered':
      return `on ${e.nodeId} (${e.connections} connection${e.connections === 1 ? '' : 's'})`;
    case 'notification.acknowledged':
      return e.nodeId ? `on ${e.nodeId}` : '';
    case 'notification.failed':
      return `${e.reason}${e.nodeId ? ` on ${e.nodeId}` : ''}`;
  }
}
