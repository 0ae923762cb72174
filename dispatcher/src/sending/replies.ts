import { entriesOf, groupBy, type Reply } from '@pushflow/shared';
import type { ChainableCommander } from 'ioredis';

/**
 * Queues replies as one batched entry per gateway reply stream. The streams are capped,
 * and expire when their gateway is gone for good (a live gateway's stream is refreshed
 * with every reply).
 */
const REPLY_STREAM_MAXLEN = 10_000;
const REPLY_STREAM_TTL_S = 3600;

export function queueReplies(pipe: ChainableCommander, replies: { replyTo: string; reply: Reply }[]): void {
  for (const [stream, batch] of groupBy(replies, (r) => r.replyTo)) {
    for (const fields of entriesOf(batch.map((r) => r.reply))) pipe.xadd(stream, 'MAXLEN', '~', REPLY_STREAM_MAXLEN, '*', ...fields);
    pipe.expire(stream, REPLY_STREAM_TTL_S);
  }
}
