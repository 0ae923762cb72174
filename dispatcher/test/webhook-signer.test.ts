import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { Webhook } from 'standardwebhooks';
import { newSecret } from '../src/webhooks/endpoint-store.ts';
import { signerFor } from '../src/webhooks/signer.ts';

/** The relay signs with node:crypto; the reference is `standardwebhooks`: the same bytes, and they verify. */
test('signatures are byte for byte those of standardwebhooks, and verify with it', () => {
  const bodies = [
    '{}',
    JSON.stringify({ type: 'notification.failed', data: { reason: 'no connection — hors ligne, 離線 🚫' } }),
    JSON.stringify({ padding: 'x'.repeat(70_000) }),
  ];
  for (let i = 0; i < 50; i++) {
    const secret = i % 2 === 0 ? newSecret() : `whsec_${randomBytes(24).toString('base64')}`;
    const reference = new Webhook(secret);
    const sign = signerFor(secret);
    const id = `msg_${randomBytes(16).toString('hex')}`;
    const at = new Date(1_700_000_000_000 + i * 987_654);
    const body = bodies[i % bodies.length]!;
    assert.equal(sign(id, at, body), reference.sign(id, at, body));
    // verify() refuses a timestamp five minutes off its clock: check against one of now.
    const now = new Date();
    const fresh = {
      'webhook-id': id,
      'webhook-timestamp': String(Math.floor(now.getTime() / 1000)),
      'webhook-signature': sign(id, now, body),
    };
    assert.doesNotThrow(() => reference.verify(body, fresh));
    assert.throws(() => new Webhook(newSecret()).verify(body, fresh), /No matching signature/);
  }
});
