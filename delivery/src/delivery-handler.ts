import {
  addContent,
  decodeEntries,
  deliveryRequestCodec,
  queueDeadItems,
  queueLedgerBatches,
  replicated,
  writeInOrder,
  type DeliveryRequest,
  type Keys,
  type LedgerEvent,
  type Logger,
  type NotificationFrame,
  type RedisClient,
  type StreamEntry,
} from '@pushflow/shared';
import { CLOSE } from './close-codes.ts';
import { socketsOf, type Connections } from './connections.ts';
import type { DeliveryMetrics } from './metrics.ts';
import { rememberSent, type ClientSocket } from './socket.ts';

/**
 * The partition handler (docs/design.md, "The flow of a notification", step 4): one XREADGROUP batch of DeliveryRequests
 * becomes frames on the recipients' local sockets, then one pipeline with every outcome
 * event and the XACK of the whole batch.
 */
export interface DeliveryHandlerOptions {
  redis: RedisClient;
  keys: Keys;
  group: string;
  nodeId: string;
  connections: Connections;
  /**
   * A frame that would take a socket's unsent bytes past this is not sent; the socket is
   * closed with 4010 instead: the client is not reading, and memory must stay bounded.
   */
  maxBackpressureBytes: number;
  log: Logger;
  metrics?: Pick<DeliveryMetrics, 'ledger' | 'acceptToDeliver'>;
}

interface Outcome {
  request: DeliveryRequest;
  hadSockets: boolean;
  sentTo: number;
}

// uWS.WebSocket.send returns 1 (written), 0 (buffered, backpressure building) or 2 (dropped:
// over uWS's own maxBackpressure, which socket-handlers.ts keeps above ours, so 2 means a bug).
const DROPPED = 2;

interface Queued {
  frame: string;
  bytes: number;
  outcome: Outcome;
}

export function createDeliveryHandler(opts: DeliveryHandlerOptions): (entries: StreamEntry[]) => Promise<void> {
  const { redis, keys, group, nodeId, connections, maxBackpressureBytes, log, metrics } = opts;
  const stream = keys.deliveries(nodeId);

  return async function deliver(entries) {
    const outcomes: Outcome[] = [];
    // Frames grouped per socket, so each socket is corked once per batch: one syscall for
    // all of a recipient's frames instead of one each.
    const outbox = new Map<ClientSocket, Queued[]>();

    // A malformed request is set aside on its own (the dead-letter stream, with the XACK);
    // the requests beside it in its entry go out.
    const { items: requests, setAside } = decodeEntries(deliveryRequestCodec, entries);
    if (setAside.length > 0) log.error({ stream, entryIds: setAside.map((j) => j.entryId) }, 'undecodable delivery requests dead-lettered');
    for (const request of requests) {
      const sockets = socketsOf(connections, request.recipientId);
      const outcome: Outcome = { request, hadSockets: (sockets?.size ?? 0) > 0, sentTo: 0 };
      outcomes.push(outcome);
      if (!sockets) continue;
      const frame = JSON.stringify(toFrame(request));
      const bytes = Buffer.byteLength(frame);
      for (const ws of sockets) {
        let queue = outbox.get(ws);
        if (!queue) outbox.set(ws, (queue = []));
        queue.push({ frame, bytes, outcome });
      }
    }

    for (const [ws, queue] of outbox) send(ws, queue);

    const at = Date.now();
    const events: LedgerEvent[] = [];
    for (const outcome of outcomes) {
      const event = toEvent(outcome, at, nodeId);
      events.push(event);
      log.debug({ notificationId: event.notificationId, event: event.type, connections: outcome.sentTo }, 'delivery outcome');
    }
    // Thrown, the batch stays pending and the consumer retries it: frames may go out twice
    // (at-least-once; clients dedupe by notificationId), outcomes are never lost. The XACK
    // follows the outcomes (one pipeline on one Redis, a second step on a cluster).
    await writeInOrder(redis, [
      replicated((pipe) => queueLedgerBatches(pipe, keys, events)),
      (pipe) => {
        queueDeadItems(pipe, stream, group, setAside);
        pipe.xack(stream, group, ...entries.map((e) => e.id));
      },
    ]);
    if (metrics) record(metrics, outcomes, events, at);
  };

  function send(ws: ClientSocket, queue: Queued[]): void {
    let overflowAt: number | undefined;
    try {
      const data = ws.getUserData();
      if (data.closed) return;
      ws.cork(() => {
        for (const { frame, bytes, outcome } of queue) {
          const buffered = ws.getBufferedAmount();
          if (!withinBudget(buffered, bytes, maxBackpressureBytes) || ws.send(frame, false) === DROPPED) {
            overflowAt = buffered;
            return;
          }
          // Counted only once handed to the socket within its budget: what uWS holds now
          // goes out unless the connection dies, and then the client reconnects.
          outcome.sentTo++;
          rememberSent(data, outcome.request.notificationId);
        }
      });
      if (overflowAt === undefined) return;
      // The rest of this socket's queue is not sent either; a notification no socket of
      // the recipient took fails BACKPRESSURE.
      log.info({ recipientId: data.recipientId, bufferedBytes: overflowAt, code: CLOSE.SLOW_CONSUMER }, 'closing a slow consumer');
      ws.end(CLOSE.SLOW_CONSUMER, 'slow consumer');
    } catch (err) {
      // A socket that died under us counts as not sent; the rest of the batch goes on.
      log.warn({ err: (err as Error).message }, 'sending to a socket failed');
    }
  }
}

/**
 * Measured once the outcomes are written, like the events they describe, so a retried
 * batch is measured once: each delivered notification is one accept-to-deliver sample,
 * taken when its frames were handed to the sockets (`at`).
 */
function record(metrics: NonNullable<DeliveryHandlerOptions['metrics']>, outcomes: Outcome[], events: LedgerEvent[], at: number): void {
  metrics.ledger.written(events);
  for (const o of outcomes) if (o.sentTo > 0) metrics.acceptToDeliver((at - Date.parse(o.request.acceptedAt)) / 1000);
}

/**
 * An idle socket always takes one frame, however large (a frame is bounded by the gateway's
 * content limits, PUSHFLOW_MAX_BACKPRESSURE_BYTES may be set below one); otherwise the
 * frame must fit in what is left of the budget.
 */
export function withinBudget(bufferedBytes: number, frameBytes: number, maxBytes: number): boolean {
  return bufferedBytes === 0 || bufferedBytes + frameBytes <= maxBytes;
}

function toFrame(r: DeliveryRequest): NotificationFrame {
  // acceptedAt goes in last: clients see the field order docs/api.md gives.
  const frame = addContent({ type: 'notification', notificationId: r.notificationId } as NotificationFrame, r);
  frame.acceptedAt = r.acceptedAt;
  return frame;
}

function toEvent(o: Outcome, at: number, nodeId: string): LedgerEvent {
  const notificationId = o.request.notificationId;
  if (o.sentTo > 0) return { type: 'notification.delivered', notificationId, at, nodeId, connections: o.sentTo };
  return {
    type: 'notification.failed',
    notificationId,
    at,
    nodeId,
    reason: o.hadSockets ? 'BACKPRESSURE' : 'RECIPIENT_OFFLINE',
  };
}
