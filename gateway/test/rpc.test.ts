import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createLogger, createRedis, encodeBatch, sendCommandCodec, toEntries, type RedisClient } from '@pushflow/shared';
import { redisServer, type Server } from '../../local-stack/servers.ts';
import { uniquePrefix } from '../../local-stack/isolation.ts';
import { startGateway, type Gateway } from './peer.ts';
import { waitFor } from '../../test/harness/wait.ts';

const ID = '0190b2c4-1111-7abc-8def-0123456789ab';

describe('the reply reader', { timeout: 20_000 }, () => {
  let server: Server;
  let gw: Gateway;
  let peer: RedisClient;
  const lines: string[] = [];

  before(async () => {
    server = await redisServer();
    gw = await startGateway(server.url, uniquePrefix(), {
      log: createLogger('gateway', 'warn', {
        write: (s: string) => {
          lines.push(s);
        },
      }),
    });
    peer = createRedis(server.url, 'dispatcher-peer');
  });
  after(async () => {
    await gw?.close();
    peer?.disconnect();
    await server?.stop();
  });

  it('settles every reply of an entry, whichever requests they answer, and logs the malformed ones at warn', async () => {
    const sends = [gw.rpc.send({ recipientId: 'a' }), gw.rpc.send({ recipientId: 'b' })];
    const stream = gw.keys.commands(0);
    const commands = await (async () => {
      for (;;) {
        const raw = (await peer.call('XREAD', 'STREAMS', stream, '0-0')) as Parameters<typeof toEntries>[0];
        const found = toEntries(raw).flatMap((e) => sendCommandCodec.items(e.fields));
        if (found.length === 2) return found;
        await new Promise((r) => setTimeout(r, 10));
      }
    })();
    // Sent in one turn of the event loop, the two commands left in one entry.
    assert.equal(await peer.xlen(stream), 1);
    const result = { notificationId: ID, status: 'ACCEPTED', acceptedAt: new Date().toISOString() };
    // What a dispatcher writes for one batch that held both gateways' commands: one entry.
    await peer.xadd(
      commands[0]!.replyTo,
      '*',
      ...encodeBatch([
        { correlationId: commands[1]!.correlationId, ok: true, result },
        { not: 'a reply' },
        { correlationId: commands[0]!.correlationId, ok: false, error: { code: 'NOTIFICATION_REFUSED', message: 'set aside' } },
      ]),
    );
    const [a, b] = await Promise.all(sends);
    assert.deepEqual(a, {
      correlationId: commands[0]!.correlationId,
      ok: false,
      error: { code: 'NOTIFICATION_REFUSED', message: 'set aside' },
    });
    assert.deepEqual(b, { correlationId: commands[1]!.correlationId, ok: true, result });
    const warned = lines.map((l) => JSON.parse(l)).filter((l) => l.msg === 'malformed replies ignored');
    assert.equal(warned.length, 1, lines.join('\n'));
    assert.equal(warned[0].level, 40);
    assert.equal(warned[0].malformed, 1);
  });

  it('refuses a batch whose keys would be longer than a command may carry, before appending anything', async () => {
    const contents = Array.from({ length: 100 }, (_, i) => ({ recipientId: `u-${i}` }));
    await assert.rejects(gw.rpc.sendMany(contents, { idempotencyKey: 'k'.repeat(126), requestHash: 'h' }), RangeError);
    const entries = await peer.xrange(gw.keys.commands(0), '-', '+');
    assert.equal(entries.flatMap(([, f]) => sendCommandCodec.items(f)).length, 2, 'only the two commands of the test before');
  });

  it("what later turns send while the stream's XADD is unanswered waits for it, then leaves in one entry", async () => {
    const stream = gw.keys.commands(0);
    const before = await peer.xlen(stream);
    // Redis holds every write for 300 ms: the first XADD stays unanswered meanwhile.
    await peer.call('CLIENT', 'PAUSE', '300', 'WRITE');
    const sends = [gw.rpc.send({ recipientId: 'g0' })];
    for (let i = 1; i <= 5; i++) {
      await new Promise((r) => setTimeout(r, 20));
      sends.push(gw.rpc.send({ recipientId: `g${i}` }));
    }
    // No dispatcher answers here: each send ends in its timeout.
    for (const s of sends) s.catch(() => {});
    await waitFor('the two entries', async () => ((await peer.xlen(stream)) >= before + 2 ? true : undefined), 5000);
    await new Promise((r) => setTimeout(r, 100));
    const entries = (await peer.xrange(stream, '-', '+')).slice(before);
    assert.deepEqual(
      entries.map(([, f]) => sendCommandCodec.items(f).map((c) => c.notification.recipientId)),
      [['g0'], ['g1', 'g2', 'g3', 'g4', 'g5']],
    );
  });
});
