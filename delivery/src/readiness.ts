import type { RedisClient } from '@pushflow/shared';

/**
 * Ready means Redis answers now. Our clients queue commands while disconnected, so a
 * plain PING would hang through an outage: check the state first and bound the wait.
 */
export async function isRedisReady(redis: RedisClient, timeoutMs = 1000): Promise<boolean> {
  if (redis.status !== 'ready') return false;
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), timeoutMs);
  });
  try {
    return await Promise.race([redis.ping().then((r) => r === 'PONG'), timeout]);
  } catch {
    return false;
  } finally {
    clearTimeout(timer);
  }
}
