import { createHash } from 'node:crypto';
import { Type } from '@sinclair/typebox';
import type { FastifyRequest } from 'fastify';
import { apiKeyFingerprint } from './auth.ts';
import type { SendIdempotency } from './rpc.ts';

/**
 * The `Idempotency-Key` header of POST /notifications and POST /notifications/batch. The
 * dispatcher keeps one notification per key; the gateway only scopes the key to the API
 * key that sent it (two applications picking the same key must not see each other's
 * notification) and to the route, and hashes the body, so a key reused for a different
 * request can be told apart from a retry.
 */
export const IDEMPOTENCY_HEADER = 'idempotency-key';

/** How long a key is remembered: as long as the notification's status document. */
const KEY_WINDOW_DESCRIPTION =
  'A key is remembered as long as the status of the notification it made: ' +
  'until PUSHFLOW_STATUS_TTL_DAYS days (30 by default) after that notification last changed status. ' +
  'After that the same key makes a new notification.';

function idempotencyHeaders(what: string) {
  return Type.Object({
    [IDEMPOTENCY_HEADER]: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 255,
        pattern: '^[\\x20-\\x7E]+$',
        description:
          `Makes retries safe: every request with the same key and the same body answers with the same ${what}; ` +
          'the same key with a different body is refused with 422 `idempotency-key-reused`. 1 to 255 printable ASCII ' +
          'characters, unique per request (a UUID, say); keys are scoped to the API key and to the route. ' +
          KEY_WINDOW_DESCRIPTION,
      }),
    ),
  });
}

export const IdempotencyHeaders = idempotencyHeaders('notification, which is sent once');
export const BatchIdempotencyHeaders = idempotencyHeaders('notifications, in the same order, each sent once');

/** JSON with object keys sorted at every level, so the same content always hashes the same. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map((v) => canonicalJson(v === undefined ? null : v)).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.keys(value)
      .filter((k) => (value as Record<string, unknown>)[k] !== undefined)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonicalJson((value as Record<string, unknown>)[k])}`);
    return `{${entries.join(',')}}`;
  }
  return JSON.stringify(value);
}

export function requestHash(body: unknown): string {
  return sha256Hex(canonicalJson(body));
}

/** The key the dispatcher sees: the caller's key bound to the API key that sent it. */
export function scopedKey(apiKeyFingerprint: string, key: string): string {
  return sha256Hex(`${apiKeyFingerprint}:${key}`);
}

/**
 * The same for POST /notifications/batch. A newline can be in no key (printable ASCII
 * only), so no key sent to /notifications hashes to one sent here: the same key on both
 * routes makes two unrelated requests rather than a refusal of the second or, worse, a
 * batch answered with a single notification's id. (rpc.ts suffixes `:<index>` to it for
 * each notification of the batch, which keeps them apart too.)
 */
export function scopedBatchKey(apiKeyFingerprint: string, key: string): string {
  return sha256Hex(`${apiKeyFingerprint}\nbatch\n${key}`);
}

function sha256Hex(value: string): string {
  return createHash('sha256').update(value).digest('hex');
}

/**
 * What a request's Idempotency-Key asks of the dispatcher: the key scoped to the API key
 * that sent it and to the route (`scope`), and the hash of the body; nothing without one.
 */
export function idempotencyOf(
  request: FastifyRequest,
  scope: (apiKeyFingerprint: string, key: string) => string,
): SendIdempotency | undefined {
  const key = request.headers[IDEMPOTENCY_HEADER];
  return typeof key === 'string' ? idempotencyFor(key, apiKeyFingerprint(request), request.body, scope) : undefined;
}

/** The same from the parts: the send route's fast path has no Fastify request. */
export function idempotencyFor(
  key: string | undefined,
  fingerprint: string,
  body: unknown,
  scope: (apiKeyFingerprint: string, key: string) => string,
): SendIdempotency | undefined {
  if (key === undefined) return undefined;
  return { idempotencyKey: scope(fingerprint, key), requestHash: requestHash(body) };
}
