import { sendCommandCodec, writeInOrder, type Keys, type Logger, type RedisClient, type Reply, type StreamEntry } from '@pushflow/shared';
import { queueReplies } from './replies.ts';

/**
 * Answers commands that were set aside (malformed, their documents refused by the database
 * for good, or they kept killing dispatchers) at once, so each caller gets a clear refusal
 * instead of waiting out the gateway's timeout. Nothing of them was stored or appended:
 * those notifications do not exist.
 */
export function refusalReplies(keys: Keys, values: readonly unknown[], log: Logger): { replyTo: string; reply: Reply }[] {
  const replyStreams = keys.replies('');
  const replies: { replyTo: string; reply: Reply }[] = [];
  for (const value of values) {
    const address = replyAddress(value);
    // A malformed message must not make us write to any key it names: only reply streams.
    if (!address?.replyTo.startsWith(replyStreams)) continue;
    replies.push({
      replyTo: address.replyTo,
      reply: {
        correlationId: address.correlationId,
        ok: false,
        error: { code: 'NOTIFICATION_REFUSED', message: 'The notification cannot be stored; it was set aside, not sent' },
      },
    });
    log.warn({ correlationId: address.correlationId }, 'send command refused and dead-lettered');
  }
  return replies;
}

/** The consumer's onDeadLetter for the commands stream: every command of the entries set aside is refused. */
export function createRefusalReplier(deps: { redis: RedisClient; keys: Keys; log: Logger }) {
  return async function replyRefused(entries: StreamEntry[]): Promise<void> {
    const values = entries.flatMap((entry) => {
      const { items, malformed } = sendCommandCodec.decodeAll(entry.fields);
      return [...items, ...malformed];
    });
    const replies = refusalReplies(deps.keys, values, deps.log);
    if (replies.length === 0) return;
    await writeInOrder(deps.redis, [(pipe) => queueReplies(pipe, replies)]);
  };
}

/** Where to answer, read loosely: the value may be one the codec refused. */
function replyAddress(value: unknown): { replyTo: string; correlationId: string } | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const { replyTo, correlationId } = value as Record<string, unknown>;
  if (typeof replyTo !== 'string' || typeof correlationId !== 'string' || correlationId.length > 64) return undefined;
  return { replyTo, correlationId };
}
