import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Webhook } from 'standardwebhooks';
import { verifyWebhook, WebhookVerificationError } from '../src/index.ts';

/**
 * verifyWebhook against messages signed by the standardwebhooks package itself (as the
 * dispatcher signs them): each way a message is accepted, and each error code. The stack
 * tests verify real messages from a dispatcher.
 */
const secret = `whsec_${Buffer.from('a secret of thirty-two bytes!!!!').toString('base64')}`;
const other = `whsec_${Buffer.from('another secret, also 32 bytes!!!').toString('base64')}`;
const payload = JSON.stringify({
  type: 'notification.delivered',
  timestamp: '2026-12-03T16:00:00.000Z',
  data: { notificationId: 'n1', recipientId: 'alice', status: 'DELIVERED', at: '2026-12-03T16:00:00.000Z' },
});

function signed(body: string, opts: { with?: string[]; at?: Date; id?: string } = {}) {
  const at = opts.at ?? new Date();
  const id = opts.id ?? 'msg_1';
  const signature = (opts.with ?? [secret]).map((s) => new Webhook(s).sign(id, at, body)).join(' ');
  return { 'webhook-id': id, 'webhook-timestamp': String(Math.floor(at.getTime() / 1000)), 'webhook-signature': signature };
}

function refusedWith(code: string) {
  return (err: unknown) => {
    assert.ok(err instanceof WebhookVerificationError, String(err));
    assert.equal(err.code, code);
    return true;
  };
}

test('accepts Node headers, a Fetch Headers object and mixed-case keys; a string or a Buffer body', () => {
  const headers = signed(payload);
  const expected = JSON.parse(payload);
  assert.deepEqual(verifyWebhook(headers, payload, secret), expected);
  assert.deepEqual(verifyWebhook(new Headers(headers), Buffer.from(payload), secret), expected);
  const upper = Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toUpperCase(), v]));
  assert.deepEqual(verifyWebhook(upper, new TextEncoder().encode(payload), secret), expected);
});

test('during a rotation: a message signed with both secrets passes with either; several secrets may be given', () => {
  const headers = signed(payload, { with: [other, secret] });
  assert.equal(verifyWebhook(headers, payload, secret).type, 'notification.delivered');
  assert.equal(verifyWebhook(headers, payload, other).type, 'notification.delivered');
  assert.equal(verifyWebhook(signed(payload), payload, [other, secret]).type, 'notification.delivered');
});

test('webhook-signature-invalid: another secret, a changed body, a changed id', () => {
  assert.throws(() => verifyWebhook(signed(payload), payload, other), refusedWith('webhook-signature-invalid'));
  assert.throws(
    () => verifyWebhook(signed(payload), payload.replace('alice', 'mallory'), secret),
    refusedWith('webhook-signature-invalid'),
  );
  assert.throws(
    () => verifyWebhook({ ...signed(payload), 'webhook-id': 'msg_2' }, payload, secret),
    refusedWith('webhook-signature-invalid'),
  );
  assert.throws(() => verifyWebhook(signed(payload), payload, [other, other]), refusedWith('webhook-signature-invalid'));
});

test('webhook-timestamp-invalid: older or newer than 5 minutes (a replay), or unreadable', () => {
  const old = new Date(Date.now() - 6 * 60_000);
  const ahead = new Date(Date.now() + 6 * 60_000);
  assert.throws(() => verifyWebhook(signed(payload, { at: old }), payload, secret), refusedWith('webhook-timestamp-invalid'));
  assert.throws(() => verifyWebhook(signed(payload, { at: ahead }), payload, [other, secret]), refusedWith('webhook-timestamp-invalid'));
  assert.throws(
    () => verifyWebhook({ ...signed(payload), 'webhook-timestamp': 'soon' }, payload, secret),
    refusedWith('webhook-timestamp-invalid'),
  );
  // Four minutes is within the tolerance.
  assert.equal(verifyWebhook(signed(payload, { at: new Date(Date.now() - 4 * 60_000) }), payload, secret).data.recipientId, 'alice');
});

test('webhook-headers-missing names what is missing; a repeated header counts as missing', () => {
  const { 'webhook-signature': _, ...unsigned } = signed(payload);
  assert.throws(
    () => verifyWebhook(unsigned, payload, secret),
    (err: any) => {
      refusedWith('webhook-headers-missing')(err);
      assert.match(err.message, /webhook-signature/);
      return true;
    },
  );
  assert.throws(() => verifyWebhook({}, payload, secret), /webhook-id, webhook-timestamp, webhook-signature/);
  const twice = { ...signed(payload), 'webhook-id': ['msg_1', 'msg_1'] };
  assert.throws(() => verifyWebhook(twice, payload, secret), refusedWith('webhook-headers-missing'));
});

test('a parsed body or no secret is a programming error, not a bad message', () => {
  assert.throws(() => verifyWebhook(signed(payload), JSON.parse(payload), secret), TypeError);
  assert.throws(() => verifyWebhook(signed(payload), payload, []), TypeError);
});
