import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { makeKeys, type RedisClient } from '@pushflow/shared';
import type { Stack } from '../../local-stack/stack.ts';
import { waitFor } from './wait.ts';

/** A POST to the stack's gateway with its API key; whatever the status, with the parsed body. */
export async function postTo(stack: Stack, path: string, body: unknown, headers: Record<string, string> = {}) {
  const res = await fetch(`${stack.gatewayUrl}${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${stack.apiKey}`, 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(10_000),
  });
  const text = await res.text();
  return { status: res.status, contentType: res.headers.get('content-type'), body: text ? JSON.parse(text) : undefined };
}

/**
 * A recipient's WebSocket on the stack's first delivery node, keeping every frame, once its
 * presence is in Redis (so a send right after is routed to it).
 */
export async function connectRecipient(
  stack: Stack,
  redis: RedisClient,
  recipientId: string,
  partitions = 1,
): Promise<{ frames: any[]; ws: WebSocket }> {
  const { status, body } = await postTo(stack, '/connect-tokens', { recipientId, ttlSeconds: 600 });
  assert.equal(status, 201, JSON.stringify(body));
  const ws = new WebSocket(`${stack.deliveryUrls[0]}/ws?token=${encodeURIComponent(body.token)}`);
  const frames: any[] = [];
  ws.on('message', (data) => frames.push(JSON.parse(String(data))));
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  const presenceKey = makeKeys(stack.prefix, partitions).presence(recipientId);
  await waitFor(`presence of ${recipientId}`, async () =>
    Number(await redis.hget(presenceKey, stack.nodeIds[0]!)) > 0 ? true : undefined,
  );
  return { frames, ws };
}
