import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startStack, type Stack } from '../../local-stack/stack.ts';
import { startReceiver, type Receiver } from '../harness/webhook-receiver.ts';
import { callerOf } from './support.ts';

/**
 * The SSRF guard as deployed by default (PUSHFLOW_WEBHOOK_ALLOW_PRIVATE unset): endpoints
 * that resolve to loopback, private, link-local or metadata addresses are refused with 422,
 * and nothing is stored. The send-time half (a name that resolves inside at send time) is
 * dispatcher/test/webhook-poster.test.ts.
 */
let stack: Stack;
let receiver: Receiver;
const call = callerOf(() => stack);

before(async () => {
  receiver = await startReceiver();
  stack = await startStack({});
});
after(async () => {
  await stack?.stop();
  await receiver?.close();
});

test('URLs that reach inside are refused: 422 webhook-url-refused, nothing stored', { timeout: 60_000 }, async () => {
  const inside = [
    receiver.url,
    `http://localhost:${receiver.port}/hook`,
    'http://10.1.2.3/hook',
    'http://172.16.0.1/hook',
    'http://192.168.1.1/hook',
    'http://169.254.169.254/latest/meta-data/',
    'http://100.100.100.200/',
    'http://0.0.0.0:3000/',
    'http://[::1]:3000/',
    'http://[::ffff:127.0.0.1]:3000/',
    'http://[fd00:ec2::254]/',
    'https://2130706433/', // 127.0.0.1 written as one number
    'http://does-not-resolve.invalid/',
  ];
  for (const url of inside) {
    const res = await call('POST', '/webhooks', { url });
    assert.equal(res.status, 422, `${url}: ${JSON.stringify(res.body)}`);
    assert.equal(res.body.type, 'urn:pushflow:problem:webhook-url-refused');
    assert.equal(res.body.errors[0].path, '/body/url');
  }
  assert.deepEqual((await call('GET', '/webhooks')).body.webhooks, []);
  assert.equal(receiver.received.length, 0);
});

test('only http and https', { timeout: 30_000 }, async () => {
  for (const url of ['file:///etc/passwd', 'gopher://example.com/', 'ws://example.com/', 'javascript:alert(1)']) {
    const res = await call('POST', '/webhooks', { url });
    assert.equal(res.status, 400, url);
    assert.equal(res.body.type, 'urn:pushflow:problem:validation-failed');
  }
});

test('a change of URL is checked the same way', { timeout: 30_000 }, async () => {
  // 93.184.215.14 is a public address (nothing is sent to it: the endpoint is disabled).
  const made = await call('POST', '/webhooks', { url: 'http://93.184.215.14/hook' });
  assert.equal(made.status, 201, JSON.stringify(made.body));
  assert.equal((await call('PATCH', `/webhooks/${made.body.id}`, { enabled: false })).status, 200);
  const res = await call('PATCH', `/webhooks/${made.body.id}`, { url: 'http://127.0.0.1:9/' });
  assert.equal(res.status, 422);
  assert.equal((await call('GET', `/webhooks/${made.body.id}`)).body.url, 'http://93.184.215.14/hook');
  assert.equal((await call('DELETE', `/webhooks/${made.body.id}`)).status, 204);
});
