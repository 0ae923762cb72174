import type { Stack } from '../../local-stack/stack.ts';

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
