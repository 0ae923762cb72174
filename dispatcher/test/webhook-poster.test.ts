import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type RequestListener } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, test } from 'node:test';
import { isPublicAddress } from '../src/webhooks/address-guard.ts';
import { createPoster } from '../src/webhooks/poster.ts';
import { parseRetrySchedule, retryDelayMs } from '../src/webhooks/retry-schedule.ts';

/** The webhook POST against real HTTP servers on loopback: the send-time SSRF guard, redirects, the body cap, the timeout. */
const servers: { close(): void }[] = [];
after(() => {
  for (const s of servers) s.close();
});

async function serve(handler: RequestListener): Promise<{ url: string; hits: () => number; port: number }> {
  let hits = 0;
  const server = createServer((req, res) => {
    hits++;
    handler(req, res);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  servers.push({
    close: () => {
      server.closeAllConnections();
      server.close();
    },
  });
  const port = (server.address() as AddressInfo).port;
  return { url: `http://127.0.0.1:${port}/hook`, hits: () => hits, port };
}

const options = { timeoutMs: 1000, maxResponseBytes: 1024, connections: 4 };

test('with the guard on, nothing is sent to loopback: not by address, not by a name that resolves there', async () => {
  const target = await serve((_q, r) => r.writeHead(204).end());
  const poster = createPoster({ ...options, allowPrivate: false });
  const byAddress = await poster.post(target.url, {}, '{}');
  assert.equal(byAddress.ok, false);
  assert.match(byAddress.error!, /^refused: 127\.0\.0\.1 is not a public address/);
  // A name is resolved by the socket's own lookup, at send time: DNS rebinding gets no further.
  const byName = await poster.post(`http://localhost:${target.port}/hook`, {}, '{}');
  assert.equal(byName.ok, false);
  assert.match(byName.error!, /^refused: localhost resolves to no public address/);
  assert.equal(target.hits(), 0);
  await poster.close();
});

test('a redirect is an answer, not followed; a 2xx is success', async () => {
  const elsewhere = await serve((_q, r) => r.writeHead(204).end());
  const redirecting = await serve((_q, r) => r.writeHead(307, { location: elsewhere.url }).end());
  const poster = createPoster({ ...options, allowPrivate: true });
  const res = await poster.post(redirecting.url, {}, '{}');
  assert.deepEqual([res.ok, res.status], [false, 307]);
  assert.equal(elsewhere.hits(), 0);
  const good = await poster.post(elsewhere.url, { 'webhook-id': 'msg_1' }, '{}');
  assert.deepEqual([good.ok, good.status], [true, 204]);
  await poster.close();
});

test('a huge response body is not read past the cap; a silent endpoint times out', async () => {
  const chunk = Buffer.alloc(64 * 1024, 120);
  let written = 0;
  const firehose = await serve((_q, r) => {
    r.writeHead(200);
    const pump = () => {
      while (written < 512 * 1024 * 1024 && r.write(chunk)) written += chunk.length;
      if (written < 512 * 1024 * 1024) r.once('drain', pump);
      else r.end();
    };
    pump();
    r.on('close', () => {});
  });
  const poster = createPoster({ ...options, allowPrivate: true });
  const res = await poster.post(firehose.url, {}, '{}');
  assert.deepEqual([res.ok, res.status], [true, 200]);
  assert.ok(written < 64 * 1024 * 1024, `the server wrote ${written} bytes before the relay hung up`);
  const silent = await serve(() => {});
  const late = await poster.post(silent.url, {}, '{}');
  assert.equal(late.ok, false);
  assert.match(late.error!, /^timeout/);
  assert.ok(late.latencyMs >= 900 && late.latencyMs < 3000, String(late.latencyMs));
  await poster.close();
});

test('the timeout bounds the whole attempt, a body that trickles in too; a stop cuts what is in flight', async () => {
  const timers = new Set<NodeJS.Timeout>();
  after(() => {
    for (const t of timers) clearInterval(t);
  });
  // A 200 at once, then a byte every 100 ms for 5 s: each read is within undici's body
  // timeout, the whole is not within the attempt's.
  const trickle = await serve((_q, r) => {
    r.writeHead(200);
    let sent = 0;
    const t = setInterval(() => {
      if (++sent === 50 || r.destroyed) {
        clearInterval(t);
        r.end();
      } else r.write('x');
    }, 100);
    timers.add(t);
  });
  const poster = createPoster({ ...options, allowPrivate: true });
  const slow = await poster.post(trickle.url, {}, '{}');
  assert.equal(slow.ok, false);
  assert.match(slow.error!, /^timeout/);
  assert.ok(slow.latencyMs >= 900 && slow.latencyMs < 2500, String(slow.latencyMs));

  const silent = await serve(() => {});
  const stop = new AbortController();
  const pending = [poster.post(silent.url, {}, '{}', stop.signal), poster.post(silent.url, {}, '{}', stop.signal)];
  const untouched = poster.post(silent.url, {}, '{}');
  setTimeout(() => stop.abort(), 100);
  for (const r of await Promise.all(pending)) {
    assert.equal(r.ok, false);
    assert.match(r.error!, /^stopped/);
    assert.ok(r.latencyMs < 900, String(r.latencyMs));
  }
  // A request without that signal runs to its own deadline.
  assert.match((await untouched).error!, /^timeout/);
  // Already stopped: not sent at all.
  const before = silent.hits();
  assert.match((await poster.post(silent.url, {}, '{}', stop.signal)).error!, /^stopped/);
  assert.equal(silent.hits(), before);
  await poster.close();
});

test('a request waiting for a connection is bounded by its own deadline too', async () => {
  const silent = await serve(() => {});
  // One connection to the origin: the second POST waits in undici's queue behind the first.
  const poster = createPoster({ ...options, connections: 1, allowPrivate: true });
  const [first, second] = await Promise.all([poster.post(silent.url, {}, '{}'), poster.post(silent.url, {}, '{}')]);
  for (const r of [first, second]) {
    assert.match(r.error!, /^timeout/);
    assert.ok(r.latencyMs >= 900 && r.latencyMs < 1800, String(r.latencyMs));
  }
  await poster.close();
});

test('addresses: public or not', () => {
  for (const a of ['8.8.8.8', '93.184.215.14', '2606:4700::1111']) assert.ok(isPublicAddress(a), a);
  for (const a of [
    '127.0.0.1',
    '10.0.0.1',
    '172.31.255.255',
    '192.168.0.1',
    '169.254.169.254',
    '100.64.0.1',
    '0.0.0.0',
    '::1',
    '::',
    'fe80::1',
    'fd00:ec2::254',
    '::ffff:10.0.0.1',
    '224.0.0.1',
    'not-an-ip',
  ])
    assert.ok(!isPublicAddress(a), a);
});

test('the retry schedule: parsed, jittered within ±20%, spent after its last step', () => {
  const s = parseRetrySchedule('5s, 30s,2m,1h,1d,250ms') as number[];
  assert.deepEqual(s, [5000, 30_000, 120_000, 3_600_000, 86_400_000, 250]);
  assert.ok(parseRetrySchedule('5x') instanceof Error);
  assert.ok(parseRetrySchedule('0s') instanceof Error);
  assert.ok(parseRetrySchedule('8d') instanceof Error);
  assert.equal(
    retryDelayMs(s, 1, () => 0),
    4000,
  );
  assert.equal(
    retryDelayMs(s, 1, () => 1),
    6000,
  );
  assert.equal(
    retryDelayMs(s, 2, () => 0.5),
    30_000,
  );
  assert.equal(retryDelayMs(s, 7), undefined);
});
