import assert from 'node:assert/strict';
import type { Stack } from '../../local-stack/stack.ts';

/** Calls the stack's gateway with its API key; anything but a 2xx fails the test. */
export function apiOf(stack: () => Stack) {
  return async function api(method: string, path: string, body?: unknown): Promise<any> {
    const { gatewayUrl, apiKey } = stack();
    const res = await fetch(`${gatewayUrl}${path}`, {
      method,
      headers: { authorization: `Bearer ${apiKey}`, ...(body !== undefined && { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    assert.ok(res.ok, `${method} ${path}: ${res.status}`);
    return res.json();
  };
}
