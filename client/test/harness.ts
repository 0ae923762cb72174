import type { Redis } from 'ioredis';
import { makeKeys } from '@pushflow/shared';
import type { Stack } from '../../local-stack/stack.ts';
import { waitFor } from '../../test/harness/wait.ts';
import type { PushFlowClient, PushFlowError, PushNotification, StateChange } from '../src/index.ts';

/** What a client reported, in order, with when: the tests read it instead of adding listeners of their own. */
export interface Recorded {
  states: (StateChange & { at: number })[];
  notifications: PushNotification[];
  errors: PushFlowError[];
}

export function record(client: PushFlowClient): Recorded {
  const seen: Recorded = { states: [], notifications: [], errors: [] };
  client.addEventListener('state', (e) => seen.states.push({ ...e.detail, at: performance.now() }));
  client.addEventListener('notification', (e) => seen.notifications.push(e.detail));
  client.addEventListener('error', (e) => seen.errors.push(e.detail));
  return seen;
}

/** How many times the client has been open. */
export const opens = (r: Recorded) => r.states.filter((s) => s.state === 'open').length;

/** The client's final state, once it stopped for good (closed with no retry), else undefined. */
export function stopped(r: Recorded): StateChange | undefined {
  const last = r.states.at(-1);
  return last?.state === 'closed' && last.retryInMs === undefined ? last : undefined;
}

/**
 * Resolves once the stack's (first) delivery node has recorded `atLeast` sockets of the
 * recipient: routing sees a socket only then, and a send before it is RECIPIENT_OFFLINE.
 */
export async function presenceOf(stack: Stack, redis: Redis, recipientId: string, atLeast = 1): Promise<void> {
  const key = makeKeys(stack.prefix).presence(recipientId);
  await waitFor(
    `presence of ${recipientId}`,
    async () => (Number(await redis.hget(key, stack.nodeIds[0]!)) >= atLeast ? true : undefined),
    15_000,
  );
}

/** Resolves once the notification's status is `status`. */
export async function statusBecomes(api: (method: string, path: string) => Promise<any>, id: string, status: string): Promise<void> {
  await waitFor(`${id} to be ${status}`, async () =>
    (await api('GET', `/notifications/${id}/status`)).status === status ? true : undefined,
  );
}
