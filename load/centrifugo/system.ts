import { signConnectToken } from '@pushflow/shared';
import { openWebSocket } from '../drivers/clients.ts';
import { now } from '../drivers/clock.ts';
import { timedPost, type SendResult } from '../drivers/senders.ts';
import type { Publication, System } from '../drivers/system.ts';
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
 *    `result` (Centrifugo answers 200 with an `error` object when it refuses one);
 *  - a batch is POST /api/batch with `{"commands":[{"publish":…},…]}`, answered 200 with
 *    `{"replies":[…]}` in command order, each `{"publish":{…}}` or `{"error":{…}}`.
 * Centrifugo gives a publication no id, so the harness numbers them (`seq` in the data).
 */
export function centrifugoSystem(server: CentrifugoServer): System {
  let seq = 0;
  const headers = { 'x-api-key': server.apiKey, 'content-type': 'application/json' };
  return {
    name: 'centrifugo',
    async openSocket(recipientId, _index, onPublication) {
      const channel = personalChannel(recipientId);
      const token = await signConnectToken({ sub: recipientId, exp: Math.floor(Date.now() / 1000) + 3600 }, server.hmacSecret);
      const ws = await openWebSocket(server.wsUrl);
      let connected: (err?: Error) => void = () => {};
      const ready = new Promise<void>((resolve, reject) => {
        connected = (err) => (err ? reject(err) : resolve());
      });
      ws.on('message', (raw) => {
        const receivedAt = now();
        for (const line of String(raw).split('\n')) {
          if (line === '') continue;
          const reply = JSON.parse(line) as Reply;
          if (reply.id === 1) {
            if (reply.error) connected(new Error(`connect refused: ${JSON.stringify(reply.error)}`));
            else if (!reply.connect?.subs || !(channel in reply.connect.subs))
              connected(new Error(`connected without a subscription to ${channel}: ${line}`));
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
      const r = await timedPost(`${server.httpUrl}/api/publish`, headers, (sentAt) =>
        JSON.stringify(publish(recipientId, id, data, sentAt)),
      );
      if (r.status !== 200) return { outcome: r.status, postMs: r.postMs };
      const answer = JSON.parse(r.text) as { result?: unknown; error?: { code?: number } };
      return outcome(id, r.postMs, answer.result, answer.error);
    },
    // `parallel`: Centrifugo runs the commands concurrently instead of one after another,
    // each publish a round trip to its Redis; its docs recommend it with the Redis engine.
    async sendBatch(recipientIds, data): Promise<SendResult[]> {
      const ids = recipientIds.map(() => String(++seq));
      const r = await timedPost(`${server.httpUrl}/api/batch`, headers, (sentAt) =>
        JSON.stringify({
          commands: recipientIds.map((to, i) => ({ publish: publish(to, ids[i]!, data, sentAt) })),
          parallel: true,
        }),
      );
      if (r.status !== 200) return ids.map(() => ({ outcome: r.status, postMs: r.postMs }));
      const replies = (JSON.parse(r.text) as { replies?: { publish?: unknown; error?: { code?: number } }[] }).replies ?? [];
      return ids.map((id, i) => outcome(id, r.postMs, replies[i]?.publish, replies[i]?.error));
    },
    statuses: {
      kind: 'none',
      why: "Centrifugo keeps no status per publication (nothing like PushFlow's DELIVERED in MongoDB to check): verified means every accepted publication was received exactly once, by its recipient",
    },
    processes: [{ name: 'centrifugo', pid: server.pid }, ...(server.redisPid ? [{ name: 'redis', pid: server.redisPid }] : [])],
    redisUrl: server.redisUrl,
    parameters: { centrifugoNodes: 1, engine: 'redis', stack: 'started by the harness' },
  };
}

/** A publish command's body: to the recipient's personal channel, numbered `seq`. */
function publish(recipientId: string, seq: string, data: Record<string, unknown>, sentAt: number) {
  return { channel: personalChannel(recipientId), data: { ...data, seq, sentAt, to: recipientId } };
}

/** Accepted when the reply has a result and no error. */
function outcome(id: string, postMs: number, result: unknown, error: { code?: number } | undefined): SendResult {
  if (error || result === undefined) return { outcome: `200 with error ${error?.code ?? '(no result)'}`, postMs };
  return { outcome: 200, id, postMs };
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
