import { pingWithin, type RedisClient } from '@pushflow/shared';

/**
 * Ready means Redis answers now. Our clients queue commands while disconnected, so a
 * PING sent during an outage would only be answered after it: check the state first.
 */
export async function isRedisReady(redis: RedisClient, timeoutMs = 1000): Promise<boolean> {
  if (redis.status !== 'ready') return false;
  return pingWithin(redis, timeoutMs);
}
