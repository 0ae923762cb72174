import { DATA_FIELD, fieldValue, writeInOrder, type Keys, type Logger, type RedisClient, type Reply, type StreamEntry } from '@pushflow/shared';
import { queueReplies } from './replies.ts';

/**
 * The consumer's onDeadLetter for the commands stream: a command set aside (malformed, its
 * document refused by the database for good, or it kept killing dispatchers) is answered at
 * once, so its caller gets a clear refusal instead of waiting out the gateway's timeout.
 * Nothing of it was stored or appended: the notification does not exist.
 */
export function createRefusalReplier(deps: { redis: RedisClient; keys: Keys; log: Logger }) {
  const replyStreams = deps.keys.replies('');

  return async function replyRefused(entries: StreamEntry[]): Promise<void> {
    const replies: { replyTo: string; reply: Reply }[] = [];
    for (const entry of entries) {
      const address = replyAddress(entry);
      // A malformed entry must not make us write to any key it names: only reply streams.
      if (!address || !address.replyTo.startsWith(replyStreams)) continue;
      replies.push({
        replyTo: address.replyTo,
        reply: {
          correlationId: address.correlationId,
          ok: false,
          error: { code: 'NOTIFICATION_REFUSED', message: 'The notification cannot be stored; it was set aside, not sent' },
        },
      });
      deps.log.warn({ entryId: entry.id, correlationId: address.correlationId }, 'send command refused and dead-lettered');
    }
    if (replies.length === 0) return;
    await writeInOrder(deps.redis, [(pipe) => queueReplies(pipe, replies)]);
  };
}

/** Where to answer, read loosely: the entry may be one the codec refused. */
function replyAddress(entry: StreamEntry): { replyTo: string; correlationId: string } | undefined {
  try {
    const value: unknown = JSON.parse(fieldValue(entry.fields, DATA_FIELD) ?? '');
    if (typeof value !== 'object' || value === null) return undefined;
    const { replyTo, correlationId } = value as Record<string, unknown>;
    if (typeof replyTo !== 'string' || typeof correlationId !== 'string' || correlationId.length > 64) return undefined;
    return { replyTo, correlationId };
  } catch {
    return undefined;
  }
}
