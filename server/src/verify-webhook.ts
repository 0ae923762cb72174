import { Webhook, WebhookVerificationError as StandardError } from 'standardwebhooks';
import { WebhookVerificationError } from './errors.ts';
import type { WebhookEvent } from './types.ts';

/** A request's headers: Node's `IncomingHttpHeaders` (`req.headers`), a plain object, or a Fetch `Headers`. */
export type WebhookHeaders = Record<string, string | string[] | undefined> | { get(name: string): string | null };

const NAMES = ['webhook-id', 'webhook-timestamp', 'webhook-signature'] as const;

/**
 * Verifies a webhook message PushFlow sent, as Standard Webhooks specifies
 * (https://www.standardwebhooks.com), with the `standardwebhooks` package, and returns its
 * parsed body. Throws a {@link WebhookVerificationError} when it cannot be trusted: code
 * `webhook-headers-missing`, `webhook-timestamp-invalid` (more than 5 minutes from now: a
 * replay) or `webhook-signature-invalid`.
 *
 * `body` must be the raw bytes or text received, not JSON parsed and serialized again (that
 * changes the bytes signed): with Express use `express.raw({ type: 'application/json' })`, with
 * Fastify a content-type parser with `parseAs: 'buffer'`. `secret` is the `whsec_...` secret
 * `createWebhook` or `rotateWebhookSecret` returned; pass both the new and the previous one
 * during a rotation, and a message signed with either passes.
 *
 * The same message can arrive more than once (delivery is at least once): drop a repeated
 * `webhook-id`.
 */
export function verifyWebhook(headers: WebhookHeaders, body: string | Uint8Array, secret: string | readonly string[]): WebhookEvent {
  if (typeof body !== 'string' && !(body instanceof Uint8Array)) {
    throw new TypeError('@pushflow/server: verifyWebhook needs the raw body (a string or Buffer), not a parsed object');
  }
  const wanted = headersOf(headers);
  const secrets = typeof secret === 'string' ? [secret] : secret;
  if (secrets.length === 0) throw new TypeError('@pushflow/server: verifyWebhook needs a secret');
  let last: WebhookVerificationError | undefined;
  for (const s of secrets) {
    try {
      return new Webhook(s).verify(body, wanted) as WebhookEvent;
    } catch (err) {
      if (!(err instanceof StandardError)) throw err;
      last = ours(err);
      // A stale timestamp is stale whatever the secret: no other secret can help.
      if (last.code === 'webhook-timestamp-invalid') throw last;
    }
  }
  throw last;
}

/** The three Standard Webhooks headers, or the error naming those missing. */
function headersOf(headers: WebhookHeaders): Record<(typeof NAMES)[number], string> {
  const plain =
    typeof headers.get === 'function'
      ? undefined
      : new Map(Object.entries(headers as Record<string, unknown>).map(([k, v]) => [k.toLowerCase(), v]));
  const read = (name: string): string | undefined => {
    if (plain === undefined) return (headers as { get(name: string): string | null }).get(name) ?? undefined;
    const value = plain.get(name);
    // Node makes an array of a header sent twice; a message with two ids or timestamps is not one message.
    return typeof value === 'string' ? value : undefined;
  };
  const found = Object.fromEntries(NAMES.map((n) => [n, read(n)]));
  const missing = NAMES.filter((n) => !found[n]);
  if (missing.length > 0) throw new WebhookVerificationError('webhook-headers-missing', `webhook message without ${missing.join(', ')}`);
  return found as Record<(typeof NAMES)[number], string>;
}

/**
 * standardwebhooks says what failed only in its messages ("Message timestamp too old",
 * "Invalid Signature Headers" for an unreadable timestamp, "No matching signature found");
 * server/test/verify-webhook.test.ts holds each case, so a release that rewords them fails there.
 */
function ours(err: Error): WebhookVerificationError {
  if (/timestamp|Invalid Signature Headers/i.test(err.message)) {
    return new WebhookVerificationError(
      'webhook-timestamp-invalid',
      `webhook message refused: ${err.message} (more than 5 minutes from now, or unreadable)`,
    );
  }
  return new WebhookVerificationError('webhook-signature-invalid', `webhook message refused: ${err.message}`);
}
