import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import { describe, it } from 'node:test';
import { tokenFor, type TestNode, withTestNode } from './helpers.ts';
import { waitFor } from '../../test/harness/wait.ts';

/**
 * What the node does with frames RFC 6455 says to fail, where uWebSockets.js decides and
 * PushFlow's code never sees the frame (docs/api.md, "Close codes"). Raw TCP, so the frames
 * can be wrong in ways no WebSocket client library would send. Should an upgrade of
 * uWebSockets.js change what it does, these fail, and the docs must change with them.
 */
function frame(payload: Buffer, masked: boolean): Buffer {
  const head = Buffer.from([0x81, (masked ? 0x80 : 0) | payload.length]); // FIN + text, under 126 bytes
  if (!masked) return Buffer.concat([head, payload]);
  const key = randomBytes(4);
  return Buffer.concat([head, key, Buffer.from(payload.map((b, i) => b ^ key[i % 4]!))]);
}

interface RawClient {
  socket: Socket;
  /** Every byte the node sent after its 101 response. */
  received(): Buffer;
  ended: Promise<void>;
}

async function upgraded(t: TestNode, recipientId: string): Promise<RawClient> {
  // Signed before the socket exists: an await between connect() and the 'connect' listener
  // below can miss the event, and the upgrade is then never sent.
  const token = await tokenFor(recipientId);
  const socket = connect(t.node.port, '127.0.0.1');
  let head = Buffer.alloc(0);
  let after = Buffer.alloc(0);
  let open = false;
  const ended = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  socket.on('error', () => {});
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', () =>
      socket.write(
        `GET /ws?token=${token} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
          `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
      ),
    );
    socket.on('data', (d: Buffer) => {
      if (open) {
        after = Buffer.concat([after, d]);
        return;
      }
      head = Buffer.concat([head, d]);
      const end = head.indexOf('\r\n\r\n');
      if (end < 0) return;
      if (!head.subarray(0, 12).toString().startsWith('HTTP/1.1 101')) return reject(new Error(head.toString()));
      open = true;
      after = head.subarray(end + 4);
      resolve();
    });
    setTimeout(() => reject(new Error('no 101 within 10 s')), 10_000).unref();
  });
  return { socket, received: () => after, ended };
}

const presence = (t: TestNode, recipientId: string) => t.redis.hget(t.keys.presence(recipientId), t.node.nodeId);

describe('delivery: frames RFC 6455 says to fail (uWebSockets.js decides)', () => {
  let t: TestNode;
  withTestNode({}, (node) => (t = node));

  it('invalid UTF-8 in a text frame: the connection is dropped at once, with no close frame (the client sees 1006, not 1007)', async () => {
    const c = await upgraded(t, 'utf8-breaker');
    await waitFor('presence', async () => ((await presence(t, 'utf8-breaker')) === '1' ? true : undefined), 10_000);
    c.socket.write(frame(Buffer.from([0x7b, 0xff, 0xfe, 0x7d]), true));
    await Promise.race([c.ended, new Promise((_, reject) => setTimeout(() => reject(new Error('still open after 10 s')), 10_000))]);
    assert.equal(c.received().length, 0, `the node sent ${c.received().toString('hex')}: a close frame would be 88...`);
    await waitFor('presence cleared', async () => ((await presence(t, 'utf8-breaker')) === null ? true : undefined), 10_000);
    const ready = await fetch(`http://127.0.0.1:${t.node.port}/readyz`, { signal: AbortSignal.timeout(10_000) });
    assert.equal(ready.status, 200, 'the node itself is unharmed');
  });

  it('a frame over the 64 KiB hard cap: the connection is dropped with no close frame (not 1009, which frames under the cap get)', async () => {
    const c = await upgraded(t, 'too-big');
    const length = Buffer.alloc(8);
    length.writeBigUInt64BE(70_000n);
    // Only the header: uWebSockets.js refuses the frame on its declared length.
    c.socket.write(Buffer.concat([Buffer.from([0x81, 0x80 | 127]), length, randomBytes(4), randomBytes(1024)]));
    await Promise.race([c.ended, new Promise((_, reject) => setTimeout(() => reject(new Error('still open after 10 s')), 10_000))]);
    assert.equal(c.received().length, 0, `the node sent ${c.received().toString('hex')}`);
  });

  it('an unmasked client frame is neither refused (no 1002) nor read as sent: the node reads its first 4 bytes as the mask', async () => {
    const c = await upgraded(t, 'unmasked');
    await waitFor('presence', async () => ((await presence(t, 'unmasked')) === '1' ? true : undefined), 10_000);
    // A valid ping frame, unmasked: were it read as sent, it would be an unknown message type,
    // ignored; read as masked, uWebSockets.js waits for 4 payload bytes that never come.
    c.socket.write(frame(Buffer.from('{"type":"ping"}'), false));
    await new Promise((resolve) => setTimeout(resolve, 1000));
    assert.equal(c.received().length, 0, `the node answered ${c.received().toString('hex')}`);
    assert.equal(c.socket.readyState, 'open', 'not closed: uWebSockets.js does not check the MASK bit');
    assert.equal(await presence(t, 'unmasked'), '1');
    // The rest of the frame it waits for: 4 more bytes complete it, as garbage; a text frame
    // that is not valid UTF-8 once "unmasked" ends the connection as above.
    c.socket.write(Buffer.from([0xff, 0xff, 0xff, 0xff]));
    await Promise.race([c.ended, new Promise((_, reject) => setTimeout(() => reject(new Error('still open after 10 s')), 10_000))]);
    assert.equal(c.received().length, 0);
  });
});
