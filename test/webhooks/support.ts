import { consumerGroups, makeKeys, type ConsumerGroupState, type RedisClient } from '@pushflow/shared';
import type { Stack } from '../../local-stack/stack.ts';
import { waitFor } from '../harness/wait.ts';

/** What the webhook tests share: a raw call to the gateway, whatever its status. */
export function callerOf(stack: () => Stack) {
  return async function call(
    method: string,
    path: string,
    body?: unknown,
    key?: string,
  ): Promise<{ status: number; body: any; type: string }> {
    const s = stack();
    const res = await fetch(`${s.gatewayUrl}${path}`, {
      method,
      headers: { authorization: `Bearer ${key ?? s.apiKey}`, ...(body !== undefined && { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(15_000),
    });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : undefined, type: res.headers.get('content-type') ?? '' };
  };
}

/** Sends `count` notifications to `recipients` round-robin; their ids, in order. */
export async function sendMany(stack: Stack, count: number, recipients: string[], concurrency = 16): Promise<string[]> {
  const ids: string[] = new Array(count);
  let next = 0;
  const worker = async () => {
    while (next < count) {
      const i = next++;
      const res = await fetch(`${stack.gatewayUrl}/notifications`, {
        method: 'POST',
        headers: { authorization: `Bearer ${stack.apiKey}`, 'content-type': 'application/json' },
        body: JSON.stringify({ recipientId: recipients[i % recipients.length], title: `#${i}` }),
        signal: AbortSignal.timeout(15_000),
      });
      if (res.status !== 202) throw new Error(`send ${i}: ${res.status} ${await res.text()}`);
      ids[i] = ((await res.json()) as { notificationId: string }).notificationId;
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return ids;
}

/**
 * The relay's consumer group (`webhooks`) on the stack's one events stream: its lag and
 * pending count; undefined while the stream or the group does not exist yet.
 */
export async function relayGroup(redis: RedisClient, stack: Stack): Promise<ConsumerGroupState | undefined> {
  return (await consumerGroups(redis, makeKeys(stack.prefix).events(0)))?.find((g) => g.name === 'webhooks');
}

/** The id of the events stream's newest entry ('0-0' when empty). */
export async function lastEventId(redis: RedisClient, stack: Stack): Promise<string> {
  const [newest] = (await redis.xrevrange(makeKeys(stack.prefix).events(0), '+', '-', 'COUNT', 1)) as [string, string[]][];
  return newest?.[0] ?? '0-0';
}

/**
 * Resolves once the relay has read every event appended so far and settled each: what it
 * was going to send is sent or stored. A wait on the relay, not on the clock, so a slow
 * machine makes the test slower, never wrong.
 */
export async function relayCaughtUp(redis: RedisClient, stack: Stack, timeoutMs = 20_000): Promise<void> {
  await waitFor(
    'the relay to read and settle every event',
    async () => {
      // Lag is unknown (null) after a replay's XGROUP SETID until the group has read to the end.
      const group = await relayGroup(redis, stack);
      return group?.lag === 0 && group.pending === 0 ? true : undefined;
    },
    timeoutMs,
    50,
  );
}

/** Resolves once each notification is FAILED (offline recipients): its last event is appended. */
export async function allFailed(stack: Stack, ids: readonly string[]): Promise<void> {
  const call = callerOf(() => stack);
  await waitFor('the notifications to fail', async () => {
    for (const id of ids) if ((await call('GET', `/notifications/${id}/status`)).body?.status !== 'FAILED') return undefined;
    return true;
  });
}
