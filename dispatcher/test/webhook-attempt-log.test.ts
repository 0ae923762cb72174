import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createRedis, makeKeys, type RedisClient, type WebhookAttempt } from '@pushflow/shared';
import { redisServer, type Server } from '../../local-stack/servers.ts';
import { uniquePrefix } from '../../local-stack/isolation.ts';
import { waitFor } from '../../test/harness/wait.ts';
import { createAttemptLog, recentAttempts } from '../src/webhooks/attempt-log.ts';

/** The webhook attempt log against a real Redis: one entry per endpoint and turn, read newest first. */
let srv: Server;
let redis: RedisClient;

before(async () => {
  srv = await redisServer();
  redis = createRedis(srv.url, 'attempt-log-test');
});
after(async () => {
  redis.disconnect();
  await srv.stop();
});

const attempt = (messageId: string, n = 1): WebhookAttempt => ({
  messageId,
  event: 'notification.failed',
  attempt: n,
  outcome: 'succeeded',
  status: 204,
  latencyMs: 1.5,
  at: new Date().toISOString(),
});

test("an endpoint's attempts of one turn are one entry; they are read back newest first, across both entry formats", async () => {
  const keys = makeKeys(uniquePrefix());
  const errors: unknown[] = [];
  const log = createAttemptLog({ redis, keys, onError: (err) => errors.push(err) });
  // An entry as the version before wrote it: one attempt under `data`.
  await redis.xadd(keys.webhookAttempts('ep-a'), '*', 'data', JSON.stringify(attempt('msg_old')));

  for (const id of ['msg_1', 'msg_2', 'msg_3']) log.record('ep-a', attempt(id));
  log.record('ep-b', attempt('msg_b'));
  await waitFor('flushed', async () => ((await redis.xlen(keys.webhookAttempts('ep-b'))) === 1 ? true : undefined));
  log.record('ep-a', attempt('msg_4', 2));
  await waitFor('second turn', async () => ((await redis.xlen(keys.webhookAttempts('ep-a'))) === 3 ? true : undefined));

  const entries = await redis.xrange(keys.webhookAttempts('ep-a'), '-', '+');
  assert.deepEqual(
    entries.map(([, fields]) => fields[0]),
    ['data', 'attempts', 'attempts'],
  );
  assert.deepEqual(
    (JSON.parse(entries[1]![1][1]!) as WebhookAttempt[]).map((a) => a.messageId),
    ['msg_1', 'msg_2', 'msg_3'],
    'one XADD for the turn',
  );
  const ids = async (limit: number) => (await recentAttempts(redis, keys, 'ep-a', limit)).map((a) => a.messageId);
  assert.deepEqual(await ids(10), ['msg_4', 'msg_3', 'msg_2', 'msg_1', 'msg_old']);
  assert.deepEqual(await ids(3), ['msg_4', 'msg_3', 'msg_2'], 'a limit counts attempts, not entries');
  assert.deepEqual(
    (await recentAttempts(redis, keys, 'ep-b', 10)).map((a) => a.messageId),
    ['msg_b'],
  );
  assert.deepEqual(errors, []);
});
