import { encodeEntry, type Reply } from '@pushflow/shared';
import type { ChainableCommander } from 'ioredis';

/**
 * Queues replies on the gateways' reply streams. The streams are capped, and expire when
 * their gateway is gone for good (a live gateway's stream is refreshed with every reply).
 */
const REPLY_STREAM_MAXLEN = 10_000;
const REPLY_STREAM_TTL_S = 3600;

export function queueReplies(pipe: ChainableCommander, replies: { replyTo: string; reply: Reply }[]): void {
  const streams = new Set<string>();
  for (const { replyTo, reply } of replies) {
    pipe.xadd(replyTo, 'MAXLEN', '~', REPLY_STREAM_MAXLEN, '*', ...encodeEntry(reply));
    streams.add(replyTo);
  }
  for (const s of streams) pipe.expire(s, REPLY_STREAM_TTL_S);
}
