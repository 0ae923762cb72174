import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  createLogger,
  createRedis,
  encodeBatch,
  encodeEntry,
  sendCommandCodec,
  toEntries,
  type RedisClient,
  type SendCommand,
} from '@pushflow/shared';
import { redisServer, type Server } from '../../local-stack/servers.ts';
import { uniquePrefix } from '../../local-stack/isolation.ts';
import { answerEntry, answerNext, auth, OTHER_KEY, startGateway, type Gateway, type GatewayOptions } from './peer.ts';

const PROBLEM = /^application\/problem\+json(; charset=utf-8)?$/;
const HEX64 = /^[0-9a-f]{64}$/;
const AT = '2025-01-01T00:00:00.000Z';

/** A notification id the peer derives from a title `#<n>`, so a test can tell which reply went where. */
const idOf = (n: number) => `0190b2c4-1111-7abc-8def-${String(n).padStart(12, '0')}`;
const numberOf = (msg: unknown) => Number((msg as SendCommand).notification.title!.slice(1));
const ok = (msg: unknown) => ({ ok: true, result: { notificationId: idOf(numberOf(msg)), status: 'ACCEPTED', acceptedAt: AT } });
const accepted = (n: number) => ({ notificationId: idOf(n), status: 'ACCEPTED', acceptedAt: AT });

/** Notifications #0 ... #(count-1), to recipients u-0, u-1, ... */
const batchOf = (count: number, at = (i: number) => ({ recipientId: `u-${i}`, title: `#${i}` })) => ({
  notifications: Array.from({ length: count }, (_, i) => at(i)),
});

describe('POST /notifications/batch', { timeout: 30_000 }, () => {
  let server: Server;
  let peer: RedisClient;
  const gateways: Gateway[] = [];

  before(async () => {
    server = await redisServer();
    peer = createRedis(server.url, 'dispatcher-peer');
  });
  after(async () => {
    for (const gw of gateways) await gw.close();
    peer?.disconnect();
    await server?.stop();
  });

  async function gateway(opts: GatewayOptions = {}): Promise<Gateway> {
    const gw = await startGateway(server.url, uniquePrefix(), opts);
    gateways.push(gw);
    return gw;
  }

  const post = (gw: Gateway, payload: unknown, headers: Record<string, string> = {}) =>
    gw.app.inject({ method: 'POST', url: '/notifications/batch', headers: { ...auth(), ...headers }, payload: payload as object });

  /** What was appended to every commands stream, without taking it. */
  const commandsQueued = async (gw: Gateway) => {
    let n = 0;
    for (const stream of gw.keys.allCommands) n += await peer.xlen(stream);
    return n;
  };

  it('appends one entry holding every command, and answers 202 with the notifications in request order', async () => {
    const gw = await gateway();
    const body = batchOf(5, (i) => ({ recipientId: `u-${i}`, title: `#${i}`, ...(i === 2 && { body: 'b', data: { n: i } }) }));
    const [res, commands] = await Promise.all([post(gw, body), answerEntry(peer, gw.keys.commands(0), ok)]);
    assert.equal(res.statusCode, 202, res.body);
    assert.match(res.headers['content-type'] as string, /^application\/json/);
    assert.deepEqual(res.json(), { notifications: [0, 1, 2, 3, 4].map(accepted) });

    assert.equal(commands.length, 5, 'one entry of five commands');
    const sends = commands as SendCommand[];
    assert.deepEqual(
      sends.map((c) => c.notification),
      body.notifications,
    );
    assert.equal(new Set(sends.map((c) => c.correlationId)).size, 5, 'a correlation id each');
    assert.ok(sends.every((c) => c.type === 'notification.send' && c.replyTo === gw.keys.replies(`test-${process.pid}`)));
    assert.ok(sends.every((c) => !('idempotencyKey' in c) && !('requestHash' in c)));
    assert.equal(await commandsQueued(gw), 0);
  });

  it('keeps request order whatever order the replies come in, and reads replies of the old one-message format', async () => {
    const gw = await gateway();
    const stream = gw.keys.commands(0);
    const answer = async () => {
      const raw = (await peer.call('XREAD', 'BLOCK', 3000, 'STREAMS', stream, '0-0')) as Parameters<typeof toEntries>[0];
      const [entry] = toEntries(raw);
      const sends = sendCommandCodec.items(entry!.fields);
      await peer.xdel(stream, entry!.id);
      const replies = sends.map((c) => ({ correlationId: c.correlationId, ...ok(c) })).reverse();
      // The last two in one batched entry, the first alone in the format before batches.
      await peer.xadd(sends[0]!.replyTo, '*', ...encodeBatch(replies.slice(0, 2)));
      await peer.xadd(sends[0]!.replyTo, '*', ...encodeEntry(replies[2]));
    };
    const [res] = await Promise.all([post(gw, batchOf(3)), answer()]);
    assert.equal(res.statusCode, 202, res.body);
    assert.deepEqual(
      res.json().notifications.map((n: { notificationId: string }) => n.notificationId),
      [idOf(0), idOf(1), idOf(2)],
    );
  });

  it('appends one entry per commands partition, each in request order, and answers in request order', async () => {
    const gw = await gateway({ env: { PUSHFLOW_PARTITIONS: '4' } });
    const body = batchOf(16);
    const expected = new Map<number, number[]>();
    body.notifications.forEach((n, i) => {
      const p = gw.keys.partitionOf(n.recipientId);
      expected.set(p, [...(expected.get(p) ?? []), i]);
    });
    assert.ok(expected.size > 1, 'the recipients spread over partitions');
    const [res, ...entries] = await Promise.all([
      post(gw, body),
      ...[...expected.keys()].map((p) => answerEntry(peer, gw.keys.commands(p), ok)),
    ]);
    assert.equal(res.statusCode, 202, res.body);
    assert.deepEqual(
      res.json().notifications,
      body.notifications.map((_, i) => accepted(i)),
    );
    [...expected.values()].forEach((indexes, k) => {
      assert.deepEqual(entries[k]!.map(numberOf), indexes);
    });
    assert.equal(await commandsQueued(gw), 0, 'one entry per partition, no more');
  });

  describe('validation: the whole batch before anything is queued', () => {
    it('names the invalid notification in errors[].path, for the schema and for the data rules, and queues nothing', async () => {
      const gw = await gateway();
      const good = { recipientId: 'u', title: 'fine' };
      const cases: [unknown, string][] = [
        [{ notifications: [good, good, good, { recipientId: 'has space' }] }, '/body/notifications/3/recipientId'],
        [{ notifications: [good, { title: 'no recipient' }] }, '/body/notifications/1/recipientId'],
        [{ notifications: [good, { recipientId: 'u', extra: 1 }] }, '/body/notifications/1/extra'],
        [{ notifications: [good, { recipientId: 'x'.repeat(129) }] }, '/body/notifications/1/recipientId'],
        [{ notifications: [good, { recipientId: 'u', title: 't'.repeat(257) }] }, '/body/notifications/1/title'],
        [{ notifications: [good, good, { recipientId: 'u', data: { ok: { $where: '1' } } }] }, '/body/notifications/2/data/ok/$where'],
        [{ notifications: [good, { recipientId: 'u', data: { a: 'x'.repeat(9000) } }] }, '/body/notifications/1/data'],
        [{ notifications: [] }, '/body/notifications'],
        [{ notifications: good }, '/body/notifications'],
        [{}, '/body/notifications'],
        [{ notifications: [good], extra: true }, '/body/extra'],
        [[good], '/body'],
      ];
      for (const [payload, path] of cases) {
        const res = await post(gw, payload);
        assert.equal(res.statusCode, 400, JSON.stringify(payload).slice(0, 200));
        assert.match(res.headers['content-type'] as string, PROBLEM);
        const problem = res.json();
        assert.equal(problem.type, 'urn:pushflow:problem:validation-failed');
        assert.equal(problem.instance, '/notifications/batch');
        assert.equal(problem.errors[0].path, path, JSON.stringify(problem));
      }
      assert.equal(await commandsQueued(gw), 0);
    });

    it('takes up to PUSHFLOW_MAX_BATCH_SIZE notifications; one more is a 400 that says the maximum', async () => {
      const gw = await gateway({ env: { PUSHFLOW_MAX_BATCH_SIZE: '5' } });
      const over = await post(gw, batchOf(6));
      assert.equal(over.statusCode, 400);
      assert.equal(over.json().errors[0].path, '/body/notifications');
      assert.match(over.json().errors[0].message, /5/);
      assert.equal(await commandsQueued(gw), 0);
      const [res] = await Promise.all([post(gw, batchOf(5)), answerEntry(peer, gw.keys.commands(0), ok)]);
      assert.equal(res.statusCode, 202, res.body);
    });

    it('has a body limit of its own: PUSHFLOW_MAX_BATCH_BODY_BYTES, not PUSHFLOW_HTTP_BODY_LIMIT_BYTES', async () => {
      const small = await gateway({ env: { PUSHFLOW_MAX_BATCH_BODY_BYTES: '2048' } });
      const big = await post(
        small,
        batchOf(3, (i) => ({ recipientId: `u-${i}`, title: `#${i}`, body: 'x'.repeat(1000) })),
      );
      assert.equal(big.statusCode, 413);
      assert.match(big.headers['content-type'] as string, PROBLEM);
      assert.equal(big.json().type, 'urn:pushflow:problem:payload-too-large');
      assert.equal(await commandsQueued(small), 0);

      // 20 bodies of 4,000 characters: over the 64 KiB of POST /notifications, well under 4 MiB.
      const gw = await gateway();
      const body = batchOf(20, (i) => ({ recipientId: `u-${i}`, title: `#${i}`, body: 'x'.repeat(4000) }));
      assert.ok(JSON.stringify(body).length > 65_536);
      const [res] = await Promise.all([post(gw, body), answerEntry(peer, gw.keys.commands(0), ok)]);
      assert.equal(res.statusCode, 202, res.body);
      assert.equal(res.json().notifications.length, 20);
    });
  });

  describe('Idempotency-Key', () => {
    /** Plays the dispatcher for a keyed batch: the first command comes alone, then the rest. */
    async function keyedSend(gw: Gateway, payload: unknown, key: string, head: (msg: unknown) => Record<string, unknown> = ok) {
      const stream = gw.keys.commands(0);
      const [res, entries] = await Promise.all([
        post(gw, payload, { 'idempotency-key': key }),
        (async () => {
          const first = await answerEntry(peer, stream, head);
          const count = (payload as { notifications: unknown[] }).notifications.length;
          if (!(head(first[0]) as { ok: boolean }).ok || count === 1) return [first];
          return [first, await answerEntry(peer, stream, ok)];
        })(),
      ]);
      return { res, entries: entries as SendCommand[][] };
    }

    it('gives each notification `<key>:<index>` and the hash of the whole body, the first sent ahead of the rest', async () => {
      const gw = await gateway();
      const body = { notifications: [0, 1, 2, 3].map((i) => ({ recipientId: `u-${i}`, title: `#${i}`, data: { b: 1, a: [i] } })) };
      const first = await keyedSend(gw, body, 'batch-42');
      assert.equal(first.res.statusCode, 202, first.res.body);
      assert.deepEqual(first.res.json().notifications, [0, 1, 2, 3].map(accepted));
      assert.deepEqual(
        first.entries.map((e) => e.length),
        [1, 3],
        'the first alone, then the other three in one entry',
      );
      const commands = first.entries.flat();
      const [scoped] = commands[0]!.idempotencyKey!.split(':');
      assert.match(scoped!, HEX64);
      assert.doesNotMatch(commands[0]!.idempotencyKey!, /batch-42/, 'the raw key does not travel');
      assert.deepEqual(
        commands.map((c) => c.idempotencyKey),
        [0, 1, 2, 3].map((i) => `${scoped}:${i}`),
      );
      assert.ok(commands.every((c) => c.idempotencyKey!.length <= 128));
      assert.match(commands[0]!.requestHash!, HEX64);
      assert.ok(
        commands.every((c) => c.requestHash === commands[0]!.requestHash),
        'one hash, of the whole batch',
      );

      // The same body with its keys in another order: the same keys and hash.
      const reordered = {
        notifications: body.notifications.map(({ recipientId, title, data }) => ({ data: { a: data.a, b: data.b }, title, recipientId })),
      };
      const again = await keyedSend(gw, reordered, 'batch-42');
      assert.deepEqual(
        again.entries.flat().map((c) => [c.idempotencyKey, c.requestHash]),
        commands.map((c) => [c.idempotencyKey, c.requestHash]),
      );
      // Another body, or another order of the same notifications: another hash.
      const changed = await keyedSend(gw, batchOf(4), 'batch-42');
      assert.notEqual(changed.entries[0]![0]!.requestHash, commands[0]!.requestHash);
      const swapped = await keyedSend(gw, { notifications: [...body.notifications].reverse() }, 'batch-42');
      assert.notEqual(swapped.entries[0]![0]!.requestHash, commands[0]!.requestHash);
      // Another API key: another scoped key.
      const [other] = await Promise.all([
        gw.app.inject({
          method: 'POST',
          url: '/notifications/batch',
          headers: { ...auth(OTHER_KEY), 'idempotency-key': 'batch-42' },
          payload: batchOf(1),
        }),
        answerEntry(peer, gw.keys.commands(0), (msg) => {
          assert.notEqual((msg as SendCommand).idempotencyKey, `${scoped}:0`);
          return ok(msg);
        }),
      ]);
      assert.equal(other.statusCode, 202);
    });

    it('never shares a key with POST /notifications: the same header makes unrelated keys', async () => {
      const gw = await gateway();
      const [, single] = await Promise.all([
        gw.app.inject({
          method: 'POST',
          url: '/notifications',
          headers: { ...auth(), 'idempotency-key': 'shared' },
          payload: { recipientId: 'u-0', title: '#0' },
        }),
        answerNext(peer, gw.keys.commands(0), ok),
      ]);
      const { entries } = await keyedSend(gw, batchOf(1), 'shared');
      const singleKey = (single as SendCommand).idempotencyKey!;
      const batchKey = entries[0]![0]!.idempotencyKey!;
      assert.match(singleKey, HEX64);
      assert.ok(!batchKey.startsWith(singleKey), `${batchKey} vs ${singleKey}`);
    });

    it('answers 422 idempotency-key-reused when the first notification is refused, and sends none of the others', async () => {
      const gw = await gateway();
      const reused = () => ({
        ok: false,
        error: { code: 'IDEMPOTENCY_KEY_REUSED', message: 'this Idempotency-Key was used for a different request' },
      });
      const { res, entries } = await keyedSend(gw, batchOf(5), 'used-before', reused);
      assert.equal(res.statusCode, 422, res.body);
      assert.match(res.headers['content-type'] as string, PROBLEM);
      assert.equal(res.json().type, 'urn:pushflow:problem:idempotency-key-reused');
      assert.equal(res.json().instance, '/notifications/batch');
      assert.deepEqual(
        entries.map((e) => e.length),
        [1],
      );
      assert.equal(await commandsQueued(gw), 0, 'the other four were never appended');
    });

    it('refuses a bad key with 400 before anything is queued', async () => {
      const gw = await gateway();
      for (const key of ['', 'k'.repeat(256), 'caf\u00e9']) {
        const res = await post(gw, batchOf(2), { 'idempotency-key': key });
        assert.equal(res.statusCode, 400, JSON.stringify(key));
        assert.equal(res.json().errors[0].path, '/headers/idempotency-key');
      }
      assert.equal(await commandsQueued(gw), 0);
    });
  });

  describe('answers that are not all accepted', () => {
    it('maps a refused notification to the problem POST /notifications answers with', async () => {
      const gw = await gateway();
      const [res] = await Promise.all([
        post(gw, batchOf(3)),
        answerEntry(peer, gw.keys.commands(0), (msg) =>
          numberOf(msg) === 1
            ? {
                ok: false,
                error: { code: 'NOTIFICATION_REFUSED', message: 'The notification cannot be stored; it was set aside, not sent' },
              }
            : ok(msg),
        ),
      ]);
      assert.equal(res.statusCode, 422, res.body);
      assert.equal(res.json().type, 'urn:pushflow:problem:notification-refused');
      assert.match(res.json().detail, /set aside/);
    });

    it('answers 504 with Retry-After when a reply is missing, and 503 when Redis is away', async () => {
      const gw = await gateway({ timeoutMs: 300 });
      const started = Date.now();
      const [res] = await Promise.all([
        post(gw, batchOf(3)),
        answerEntry(peer, gw.keys.commands(0), (msg) => (numberOf(msg) === 2 ? undefined : ok(msg))),
      ]);
      assert.equal(res.statusCode, 504, res.body);
      assert.equal(res.headers['retry-after'], '1');
      assert.equal(res.json().type, 'urn:pushflow:problem:dispatcher-timeout');
      assert.ok(Date.now() - started < 2000);
    });
  });

  describe('rate limit', () => {
    it('spends one unit per notification; a batch over what is left is 429 and queues nothing', async () => {
      const gw = await gateway({ env: { PUSHFLOW_RATE_LIMIT_PER_SECOND: '1', PUSHFLOW_RATE_LIMIT_BURST: '10' } });
      const [six] = await Promise.all([post(gw, batchOf(6)), answerEntry(peer, gw.keys.commands(0), ok)]);
      assert.equal(six.statusCode, 202, six.body);
      assert.equal(six.headers['ratelimit-limit'], '10');
      assert.equal(six.headers['ratelimit-remaining'], '4');

      const five = await post(gw, batchOf(5));
      assert.equal(five.statusCode, 429, five.body);
      assert.match(five.headers['content-type'] as string, PROBLEM);
      assert.equal(five.json().type, 'urn:pushflow:problem:rate-limited');
      assert.match(five.json().detail, /fewer than 5 notifications/);
      assert.match(five.headers['retry-after'] as string, /^[1-9]\d*$/);
      assert.equal(five.headers['ratelimit-remaining'], '4', 'says how large a batch would pass');
      assert.equal(await commandsQueued(gw), 0);

      // The burst caps the batch size: eleven could never pass, so they are a 400, not a 429.
      const eleven = await post(gw, batchOf(11));
      assert.equal(eleven.statusCode, 400);
      assert.equal(eleven.json().errors[0].path, '/body/notifications');
      const invalid = await post(gw, { notifications: [{ recipientId: 'has space' }] });
      assert.equal(invalid.statusCode, 400);

      // Neither the 429 nor the 400s spent anything; single sends draw on the same budget.
      const [single] = await Promise.all([
        gw.app.inject({ method: 'POST', url: '/notifications', headers: auth(), payload: { recipientId: 'u', title: '#9' } }),
        answerNext(peer, gw.keys.commands(0), ok),
      ]);
      assert.equal(single.statusCode, 202);
      assert.equal(single.headers['ratelimit-remaining'], '3');
    });
  });

  it('logs no line per notification at info', async () => {
    const lines: string[] = [];
    const gw = await gateway({
      log: createLogger('gateway', 'info', {
        write: (s: string) => {
          lines.push(s);
        },
      }),
    });
    const [res] = await Promise.all([post(gw, batchOf(3)), answerEntry(peer, gw.keys.commands(0), ok)]);
    assert.equal(res.statusCode, 202);
    assert.deepEqual(lines, []);
  });
});
