import {
  deliveryRequestCodec, encodeEntry,
  type DeliveryRequest, type Keys, type LedgerEvent, type Logger, type NotificationFrame, type Redis, type StreamEntry,
} from '@pushflow/shared';
import { socketsOf, type Connections } from './connections.ts';
import { rememberSent, type ClientSocket } from './socket.ts';

/**
 * The partition handler (DESIGN.md, flow step 4): one XREADGROUP batch of DeliveryRequests
 * becomes frames on the recipients' local sockets, then one pipeline with every outcome
 * event and the XACK of the whole batch.
 */
export interface PusherOptions {
  redis: Redis;
  keys: Keys;
  group: string;
  nodeId: string;
  connections: Connections;
  /** A socket holding more unsent bytes than this is skipped: the client is not reading. */
  maxBackpressureBytes: number;
  log: Logger;
}

interface Outcome {
  request: DeliveryRequest;
  hadSockets: boolean;
  sentTo: number;
}

// uWS.WebSocket.send: 2 means the message was dropped (over uWS's own maxBackpressure).
const DROPPED = 2;

export function createDeliveryHandler(opts: PusherOptions): (entries: StreamEntry[]) => Promise<void> {
  const { redis, keys, group, nodeId, connections, maxBackpressureBytes, log } = opts;
  const stream = keys.deliveries(nodeId);

  return async function deliver(entries) {
    const outcomes: Outcome[] = [];
    // Frames grouped per socket, so each socket is corked once per batch: one syscall for
    // all of a recipient's frames instead of one each.
    const outbox = new Map<ClientSocket, { frame: string; outcome: Outcome }[]>();

    for (const entry of entries) {
      const request = deliveryRequestCodec.decode(entry.fields);
      if (!request) {
        log.warn({ entryId: entry.id, stream }, 'undecodable delivery request; acking it');
        continue;
      }
      const sockets = socketsOf(connections, request.recipientId);
      const outcome: Outcome = { request, hadSockets: (sockets?.size ?? 0) > 0, sentTo: 0 };
      outcomes.push(outcome);
      if (!sockets) continue;
      const frame = JSON.stringify(toFrame(request));
      for (const ws of sockets) {
        let queue = outbox.get(ws);
        if (!queue) outbox.set(ws, (queue = []));
        queue.push({ frame, outcome });
      }
    }

    for (const [ws, queue] of outbox) send(ws, queue);

    const at = Date.now();
    const pipeline = redis.pipeline();
    for (const outcome of outcomes) {
      const event = toEvent(outcome, at, nodeId);
      pipeline.xadd(keys.events, '*', ...encodeEntry(event));
      log.debug({ notificationId: event.notificationId, event: event.type, connections: outcome.sentTo }, 'delivery outcome');
    }
    pipeline.xack(stream, group, ...entries.map((e) => e.id));
    const results = (await pipeline.exec()) ?? [];
    const failed = results.find(([err]) => err);
    // Thrown, the batch stays pending and the consumer retries it: frames may go out twice
    // (at-least-once; clients dedupe by notificationId), outcomes are never lost.
    if (failed) throw failed[0];
  };

  function send(ws: ClientSocket, queue: { frame: string; outcome: Outcome }[]): void {
    try {
      const data = ws.getUserData();
      if (data.closed) return;
      ws.cork(() => {
        for (const { frame, outcome } of queue) {
          if (ws.getBufferedAmount() > maxBackpressureBytes) continue;
          if (ws.send(frame, false) === DROPPED) continue;
          outcome.sentTo++;
          rememberSent(data, outcome.request.notificationId);
        }
      });
    } catch (err) {
      // A socket that died under us counts as not sent; the rest of the batch goes on.
      log.warn({ err: (err as Error).message }, 'sending to a socket failed');
    }
  }
}

function toFrame(r: DeliveryRequest): NotificationFrame {
  return {
    type: 'notification',
    notificationId: r.notificationId,
    ...(r.title !== undefined ? { title: r.title } : {}),
    ...(r.body !== undefined ? { body: r.body } : {}),
    ...(r.data !== undefined ? { data: r.data } : {}),
    acceptedAt: r.acceptedAt,
  };
}

function toEvent(o: Outcome, at: number, nodeId: string): LedgerEvent {
  const notificationId = o.request.notificationId;
  if (o.sentTo > 0) return { type: 'notification.delivered', notificationId, at, nodeId, connections: o.sentTo };
  return {
    type: 'notification.failed', notificationId, at, nodeId,
    reason: o.hadSockets ? 'BACKPRESSURE' : 'RECIPIENT_OFFLINE',
  };
}
