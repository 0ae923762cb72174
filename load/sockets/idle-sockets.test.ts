import { test } from 'node:test';
import assert from 'node:assert/strict';
import { WebSocketServer } from 'ws';
import { openIdleSockets } from './idle-sockets.ts';
import { sourceAddresses } from './source-addresses.ts';

test('loopback connections move to the next 127.0.0.x when one is full or out of ports', () => {
  const a = sourceAddresses(['ws://127.0.0.1:8080', 'ws://127.0.0.1:8081'], 2);
  assert.deepEqual([a.take(), a.take(), a.take()], ['127.0.0.1', '127.0.0.1', '127.0.0.2']);
  a.exhausted('127.0.0.2');
  assert.deepEqual([a.take(), a.take(), a.take()], ['127.0.0.3', '127.0.0.3', '127.0.0.4']);
  assert.deepEqual(a.counts(), { '127.0.0.1': 2, '127.0.0.2': 0, '127.0.0.3': 2, '127.0.0.4': 1 });
  assert.equal(sourceAddresses(['ws://delivery.example:8080']).take(), undefined, 'elsewhere the kernel chooses');
});

test('idle sockets really leave from the addresses they were given, round-robin over the targets', { timeout: 20_000 }, async () => {
  const servers = await Promise.all(
    [0, 1].map(
      () =>
        new Promise<WebSocketServer>((resolve) => {
          const wss: WebSocketServer = new WebSocketServer({ host: '127.0.0.1', port: 0 }, () => resolve(wss));
        }),
    ),
  );
  const seen: string[][] = servers.map(() => []);
  servers.forEach((wss, i) => {
    wss.on('connection', (_ws, req) => seen[i]!.push(req.socket.remoteAddress!));
  });
  const urls = servers.map((wss) => `ws://127.0.0.1:${(wss.address() as { port: number }).port}`);
  try {
    const sockets = await openIdleSockets({
      deliveryUrls: urls,
      tokens: ['a', 'b', 'c', 'd', 'e'],
      concurrency: 2,
      addresses: sourceAddresses(urls, 2),
      onFrame: () => {},
    });
    assert.equal(sockets.opened, 5);
    assert.deepEqual(sockets.failures, {});
    assert.deepEqual(sockets.perSourceAddress, { '127.0.0.1': 2, '127.0.0.2': 2, '127.0.0.3': 1 });
    assert.deepEqual(sockets.perNode, [3, 2]);
    assert.deepEqual([...seen[0]!, ...seen[1]!].sort(), ['127.0.0.1', '127.0.0.1', '127.0.0.2', '127.0.0.2', '127.0.0.3']);
    await sockets.close();
    assert.deepEqual(sockets.closedByServer, {}, 'closing our own sockets is not the server dropping them');
  } finally {
    for (const wss of servers) {
      for (const c of wss.clients) c.terminate();
      await new Promise((r) => wss.close(r));
    }
  }
});

test('a refused handshake is counted by its cause, not thrown', { timeout: 20_000 }, async () => {
  const wss: WebSocketServer = await new Promise((resolve) => {
    const s: WebSocketServer = new WebSocketServer({ host: '127.0.0.1', port: 0, verifyClient: (_info, cb) => cb(false, 503) }, () =>
      resolve(s),
    );
  });
  const url = `ws://127.0.0.1:${(wss.address() as { port: number }).port}`;
  try {
    const sockets = await openIdleSockets({
      deliveryUrls: [url],
      tokens: ['a', 'b'],
      concurrency: 2,
      addresses: sourceAddresses([url]),
      onFrame: () => {},
    });
    assert.equal(sockets.opened, 0);
    assert.deepEqual(sockets.failures, { 'HTTP 503': 2 });
  } finally {
    await new Promise((r) => wss.close(r));
  }
});
