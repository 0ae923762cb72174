import { isRedisError, type RedisClient } from './redis.ts';

/** One consumer group of a stream, as `XINFO GROUPS` reports it. */
export interface ConsumerGroupState {
  name: string;
  /** The last entry the group handed to a consumer. */
  lastDeliveredId: string;
  /** Handed to a consumer and not acked yet. */
  pending: number;
  /** Entries not handed to the group yet; null when Redis cannot tell (after an XDEL, say). */
  lag: number | null;
}

/** Reads an `XINFO GROUPS` reply: a flat field/value list per group. */
export function parseGroups(reply: unknown): ConsumerGroupState[] {
  return (reply as unknown[][]).map((flat) => {
    const fields = new Map<string, unknown>();
    for (let i = 0; i + 1 < flat.length; i += 2) fields.set(String(flat[i]), flat[i + 1]);
    const lag = fields.get('lag');
    return {
      name: String(fields.get('name')),
      lastDeliveredId: String(fields.get('last-delivered-id')),
      pending: Number(fields.get('pending') ?? 0),
      lag: lag === null || lag === undefined ? null : Number(lag),
    };
  });
}

/** The stream's consumer groups; undefined when the stream does not exist. */
export async function consumerGroups(redis: RedisClient, stream: string): Promise<ConsumerGroupState[] | undefined> {
  try {
    return parseGroups(await redis.xinfo('GROUPS', stream));
  } catch (err) {
    if (isRedisError(err, 'ERR no such key')) return undefined;
    throw err;
  }
}
