import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { MongoClient } from 'mongodb';
import { createRedis } from '@pushflow/shared';
import { startStack, type Stack } from '../../local-stack/stack.ts';
import { startReceiver, verifyAll, type Receiver } from '../harness/webhook-receiver.ts';
import { waitFor } from '../harness/wait.ts';
import { burst } from '../faults/support.ts';
import { callerOf, relayGroup } from './support.ts';

/**
 * The relay when things go wrong, with the services as processes: an endpoint down for
 * 30 s, an endpoint answering in 20 s beside a fast one, the dispatcher (which runs the
 * relay) killed -9 mid-burst. No event may be lost; duplicates keep their webhook-id.
 */
let stack: Stack;
const call = callerOf(() => stack);
const receivers: Receiver[] = [];

before(async () => {
  stack = await startStack({
    env: {
      PUSHFLOW_WEBHOOK_ALLOW_PRIVATE: 'true',
      // A stable consumer name: the restarted dispatcher resumes what its relay left pending.
      PUSHFLOW_CONSUMER_ID: 'dispatcher-1',
      PUSHFLOW_REPLY_TIMEOUT_MS: '3000',
      PUSHFLOW_WEBHOOK_RETRY_SCHEDULE: '1s,2s,4s,4s,4s,4s,4s,4s,4s,4s,4s,4s,4s,4s,4s',
      PUSHFLOW_WEBHOOK_POLL_MS: '200',
      PUSHFLOW_WEBHOOK_TIMEOUT_MS: '10000',
    },
  });
});
after(async () => {
  await stack?.stop();
  for (const r of receivers) await r.close();
});

async function receiver(): Promise<Receiver> {
  const r = await startReceiver();
  receivers.push(r);
  return r;
}

async function endpoint(url: string, events: string[]): Promise<{ id: string; secret: string }> {
  const res = await call('POST', '/webhooks', { url, events });
  assert.equal(res.status, 201, JSON.stringify(res.body));
  return res.body;
}

/**
 * The (notification, event) pairs a receiver got, each with the webhook-ids it came under;
 * every message is verified once (standardwebhooks' HMAC is plain JavaScript: verifying all
 * of them at every poll would slow the receiver down, in this same process).
 */
function factsOf(r: Receiver, secret: string) {
  const facts = new Map<string, Set<string>>();
  let seen = 0;
  return () => {
    const fresh = r.received.slice(seen);
    seen += fresh.length;
    const bodies = verifyAll(fresh, secret) as { type: string; data: { notificationId: string } }[];
    bodies.forEach((b, i) => {
      const key = `${b.data.notificationId} ${b.type}`;
      if (!facts.has(key)) facts.set(key, new Set());
      facts.get(key)!.add(fresh[i]!.id);
    });
    return facts;
  };
}

async function everyFact(r: Receiver, secret: string, ids: string[], types: string[], timeoutMs: number) {
  const want = ids.flatMap((id) => types.map((t) => `${id} ${t}`));
  const read = factsOf(r, secret);
  let missing: string[] = [];
  return waitFor(
    `${want.length} messages`,
    () => {
      const facts = read();
      missing = want.filter((k) => !facts.has(k));
      return missing.length === 0 ? facts : undefined;
    },
    timeoutMs,
    500,
  ).catch((err: Error) => {
    throw new Error(`${err.message}: ${missing.length} missing, e.g. ${missing.slice(0, 3).join(', ')}`);
  });
}

test('an endpoint down for 30 s, then back: every event arrives, duplicates under the same webhook-id', { timeout: 150_000 }, async () => {
  const r = await receiver();
  const ep = await endpoint(r.url, ['notification.accepted', 'notification.failed']);
  await r.down();
  const ids: string[] = [];
  // Sends through the whole outage: 20 s refusing connections, then 10 s answering 503
  // (the body was received, so every retry of those is a duplicate).
  const sending = (async () => {
    for (let i = 0; i < 30; i++) {
      ids.push(...(await burst(stack, { count: 10, recipients: ['down-a', 'down-b'], concurrency: 4 })).accepted);
      await new Promise((res) => setTimeout(res, 1000));
    }
  })();
  await new Promise((res) => setTimeout(res, 20_000));
  const whileDown = await call('GET', `/webhooks/${ep.id}/attempts?limit=10`);
  assert.ok(
    whileDown.body.attempts.some((a: any) => a.outcome === 'retrying' && /ECONNREFUSED/.test(a.error) && a.nextRetryAt),
    JSON.stringify(whileDown.body.attempts.slice(0, 2)),
  );
  r.behave({ status: 503 });
  await r.up();
  await new Promise((res) => setTimeout(res, 10_000));
  r.behave({ status: 204 });
  await sending;
  assert.equal(ids.length, 300);
  const facts = await everyFact(r, ep.secret, ids, ['notification.accepted', 'notification.failed'], 60_000);
  const reused = [...facts.values()].filter((s) => s.size > 1);
  assert.deepEqual(reused.slice(0, 3), [], 'one webhook-id per event, whatever the retries');
  assert.ok(r.received.length > facts.size, `the 503s made duplicates (${r.received.length} POSTs, ${facts.size} events)`);
  const attempts = await call('GET', `/webhooks/${ep.id}/attempts?limit=1000`);
  assert.ok(attempts.body.attempts.some((a: any) => a.outcome === 'retrying' && a.status === 503));
  assert.equal((await call('DELETE', `/webhooks/${ep.id}`)).status, 204);
});

test('an endpoint answering in 20 s does not delay a fast one', { timeout: 120_000 }, async () => {
  const slow = await receiver();
  slow.behave({ delayMs: 20_000 });
  const fast = await receiver();
  const events = ['notification.accepted', 'notification.failed'];
  const slowEp = await endpoint(slow.url, events);
  const fastEp = await endpoint(fast.url, events);
  const ids: string[] = [];
  for (let i = 0; i < 10; i++) {
    ids.push(...(await burst(stack, { count: 40, recipients: ['slow-a', 'slow-b'], concurrency: 8 })).accepted);
    await new Promise((res) => setTimeout(res, 500));
  }
  await everyFact(fast, fastEp.secret, ids, events, 20_000);
  const lateness = (verifyAll(fast.received, fastEp.secret) as { data: { at: string } }[]).map(
    (b, i) => fast.received[i]!.at - Date.parse(b.data.at),
  );
  lateness.sort((a, b) => a - b);
  const p99 = lateness[Math.floor(lateness.length * 0.99)]!;
  assert.ok(p99 < 2000, `the fast endpoint's messages came ${p99} ms after their event (p99)`);
  assert.ok(
    slow.received.length > 0 && slow.received.length < ids.length * 2,
    `the slow one has its first ${slow.received.length} in hand`,
  );
  for (const ep of [slowEp, fastEp]) assert.equal((await call('DELETE', `/webhooks/${ep.id}`)).status, 204);
});

test('an endpoint busy but answering is not taken for slow: its backlog waits in memory, not in the retry store', {
  timeout: 120_000,
}, async () => {
  const r = await receiver();
  // Attempts of 0.2 to 2 s, half of them past the 1 s hand-off, while answers keep coming.
  r.behave({ delayMs: 200, jitterMs: 1800 });
  const ep = await endpoint(r.url, ['notification.failed']);
  const mongo = new MongoClient(stack.mongoUrl);
  await mongo.connect();
  const stored = mongo.db().collection('webhook_messages');
  let most = 0;
  const watch = setInterval(() => {
    stored.countDocuments({ endpointId: ep.id }).then(
      (n) => (most = Math.max(most, n)),
      () => {},
    );
  }, 100);
  try {
    const { accepted } = await burst(stack, { count: 400, recipients: ['busy-a', 'busy-b'], concurrency: 8 });
    await everyFact(r, ep.secret, accepted, ['notification.failed'], 90_000);
    // Taken for slow, its waiting messages would all be stored (hundreds at once). A stall of
    // this process or the relay's may still cost a few: a bound, not zero.
    assert.ok(most < accepted.length / 4, `${most} of ${accepted.length} messages were in the retry store at once`);
  } finally {
    clearInterval(watch);
    await mongo.close();
  }
  assert.equal((await call('DELETE', `/webhooks/${ep.id}`)).status, 204);
});

test('the relay killed -9 mid-burst: nothing lost', { timeout: 180_000 }, async () => {
  const r = await receiver();
  // Slow enough that attempts are in flight, and messages queued, when the kill comes.
  r.behave({ delayMs: 30 });
  const events = ['notification.accepted', 'notification.failed'];
  const ep = await endpoint(r.url, events);
  const { accepted: ids } = await burst(stack, {
    count: 3000,
    recipients: ['kill-a', 'kill-b', 'kill-c'],
    concurrency: 32,
    faultAt: 0.5,
    fault: async () => void (await stack.restart('dispatcher', 'SIGKILL')),
  });
  assert.ok(ids.length > 2000, `${ids.length} accepted`);
  const facts = await everyFact(r, ep.secret, ids, events, 120_000);
  assert.deepEqual([...facts.values()].filter((s) => s.size > 1).slice(0, 3), [], 'one webhook-id per event');
  // Every ledger entry the relay read is settled and acked: nothing waits in its group.
  const redis = createRedis(stack.redisUrl, 'test-webhook-pending');
  try {
    await waitFor('the webhooks group to have nothing pending', async () =>
      (await relayGroup(redis, stack))?.pending === 0 ? true : undefined,
    );
  } finally {
    redis.disconnect();
  }
  assert.equal((await call('DELETE', `/webhooks/${ep.id}`)).status, 204);
});
