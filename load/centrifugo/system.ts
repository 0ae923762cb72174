import { signConnectToken } from '@pushflow/shared';
import { openWebSocket } from '../clients.ts';
import { now } from '../clock.ts';
import { timedPost, type SendResult } from '../senders.ts';
import type { Publication, System } from '../system.ts';
import type { CentrifugoServer } from './server.ts';

/**
 * Centrifugo as the scenarios see it, through its JSON protocol and HTTP API only:
 *  - a client connects to /connection/websocket, sends `{"id":1,"connect":{"token":…}}`
 *    (an HS256 JWT, sub = the recipient) and is ready once the connect reply lists its
 *    personal channel `#<recipient>` among the server-side subscriptions;
 *  - publications arrive as `{"push":{"channel":"#<recipient>","pub":{"data":…}}}`; one
 *    WebSocket message may carry several replies, one JSON object a line;
 *  - the server pings with an empty `{}` and expects `{}` back;
 *  - a publication is POST /api/publish with X-API-Key; accepted means 200 with a
 *    `result` (Centrifugo answers 200 with an `error` object when it refuses one).
 * Centrifugo gives a publication no id, so the harness numbers them (`seq` in the data).
 */
export function centrifugoSystem(server: CentrifugoServer): System {
  let seq = 0;
  return {
    name: 'centrifugo',
    async openSocket(recipientId, _index, onPublication) {
      const channel = personalChannel(recipientId);
      const token = signConnectToken({ sub: recipientId, exp: Math.floor(Date.now() / 1000) + 3600 }, server.hmacSecret);
      const ws = await openWebSocket(server.wsUrl);
      let connected: (err?: Error) => void = () => {};
      const ready = new Promise<void>((resolve, reject) => { connected = (err) => (err ? reject(err) : resolve()); });
      ws.on('message', (raw) => {
        const receivedAt = now();
        for (const line of String(raw).split('\n')) {
          if (line === '') continue;
          const reply = JSON.parse(line) as Reply;
          if (reply.id === 1) {
            if (reply.error) connected(new Error(`connect refused: ${JSON.stringify(reply.error)}`));
            else if (!reply.connect?.subs || !(channel in reply.connect.subs)) connected(new Error(`connected without a subscription to ${channel}: ${line}`));
            else connected();
          } else if (reply.push?.pub) {
            const p = publication(reply.push.pub.data);
            // One that came on any other channel reached the wrong recipient: misrouted.
            onPublication(reply.push.channel === channel ? p : { ...p, to: undefined }, receivedAt);
          } else if (Object.keys(reply).length === 0) {
            ws.send('{}');
          }
        }
      });
      ws.once('close', (code, reason) => connected(new Error(`closed before the connect reply: ${code} ${String(reason)}`)));
      const timer = setTimeout(() => connected(new Error('no connect reply within 10 s')), 10_000);
      ws.send(JSON.stringify({ id: 1, connect: { token } }));
      try {
        await ready;
      } catch (err) {
        ws.terminate();
        throw err;
      } finally {
        clearTimeout(timer);
      }
      return ws;
    },
    async send(recipientId, data): Promise<SendResult> {
      const id = String(++seq);
      const r = await timedPost(
        `${server.httpUrl}/api/publish`,
        { 'x-api-key': server.apiKey, 'content-type': 'application/json' },
        (sentAt) => JSON.stringify({ channel: personalChannel(recipientId), data: { ...data, seq: id, sentAt, to: recipientId } }),
      );
      if (r.status !== 200) return { outcome: r.status, postMs: r.postMs };
      const answer = JSON.parse(r.text) as { result?: unknown; error?: { code?: number } };
      if (answer.error || answer.result === undefined) return { outcome: `200 with error ${answer.error?.code ?? '(no result)'}`, postMs: r.postMs };
      return { outcome: 200, id, postMs: r.postMs };
    },
    statuses: {
      kind: 'none',
      why: 'Centrifugo keeps no status per publication (nothing like PushFlow\'s DELIVERED in MongoDB to check): verified means every accepted publication was received exactly once, by its recipient',
    },
    processes: [{ name: 'centrifugo', pid: server.pid }, ...(server.redisPid ? [{ name: 'redis', pid: server.redisPid }] : [])],
    redisUrl: server.redisUrl,
    parameters: { centrifugoNodes: 1, engine: 'redis', stack: 'started by the harness' },
  };
}

/** With client.subscribe_to_user_personal_channel and no namespace: `#` + user. */
function personalChannel(user: string): string {
  return `#${user}`;
}

interface Reply {
  id?: number;
  error?: unknown;
  connect?: { subs?: Record<string, unknown> };
  push?: { channel?: string; pub?: { data?: PublishedData } };
}

interface PublishedData {
  seq?: string;
  sentAt?: number;
  to?: string;
  warmup?: boolean;
}

function publication(data: PublishedData | undefined): Publication {
  return { id: data?.seq, sentAt: data?.sentAt, to: data?.to, warmup: data?.warmup };
}
