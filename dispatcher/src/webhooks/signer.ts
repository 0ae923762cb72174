import { createHmac } from 'node:crypto';

/**
 * A Standard Webhooks `v1` signature: the base64 HMAC-SHA256 of `id.timestamp.body` under the
 * secret's bytes (`whsec_` and base64). What `standardwebhooks`' `Webhook.sign` computes, by
 * node:crypto instead of its SHA-256 in plain JavaScript: 2.3 µs a message against 7.2 on
 * this machine, and the relay signs every message it sends. Receivers, the CLI and the tests
 * verify with `standardwebhooks`, and a test holds the two to the same bytes.
 */
export type Signer = (messageId: string, at: Date, body: string) => string;

export function signerFor(secret: string): Signer {
  const key = Buffer.from(secret.startsWith(PREFIX) ? secret.slice(PREFIX.length) : secret, 'base64');
  return (messageId, at, body) =>
    `v1,${createHmac('sha256', key)
      .update(`${messageId}.${Math.floor(at.getTime() / 1000)}.${body}`)
      .digest('base64')}`;
}

const PREFIX = 'whsec_';
