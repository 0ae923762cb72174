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
import type { HeldEntries } from './held-entries.ts';
import { isSettled, newOutcome, outcomeEvent, type Outcome } from './outcomes.ts';
import { rememberSent, type ClientSocket } from './socket.ts';
import { handOver, holdsFrames } from './socket-frames.ts';

/**
 * The partition handler (docs/design.md, "The flow of a notification", step 4): one XREADGROUP batch of DeliveryRequests
 * becomes frames on the recipients' local sockets, then one pipeline with every settled
 * outcome event and the XACK of the entries they settle. An entry whose frames a socket
 * still buffers waits in `held` and is acked once they drained or were lost.
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
  /** Entries waiting on frames sockets still buffer, and what settles them. */
  held: HeldEntries;
  /** Closes a socket once it has sent what it holds (socket-handlers.ts). */
  closeWhenDrained(ws: ClientSocket, code: number, reason: string): void;
  log: Logger;
  metrics?: Pick<DeliveryMetrics, 'ledger' | 'acceptToDeliver'>;
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
  const { redis, keys, group, nodeId, connections, maxBackpressureBytes, held, log, metrics } = opts;
  const stream = keys.deliveries(nodeId);

  return async function deliver(batch) {
    // An entry still waiting on frames (re-read after a reconnect) is settled where it waits.
    const entries = batch.filter((e) => !held.isHeld(e.id));
    const outcomes: Outcome[] = [];
    // Frames grouped per socket, so each socket is corked once per batch: one syscall for
    // all of a recipient's frames instead of one each.
    const outbox = new Map<ClientSocket, Queued[]>();

    // A malformed request is set aside on its own (the dead-letter stream, with the XACK);
    // the requests beside it in its entry go out.
    const { items: requests, setAside } = decodeEntries(deliveryRequestCodec, entries, (request, entry) => ({
      request,
      entryId: entry.id,
    }));
    if (setAside.length > 0) log.error({ stream, entryIds: setAside.map((j) => j.entryId) }, 'undecodable delivery requests dead-lettered');
    for (const { request, entryId } of requests) {
      const sockets = socketsOf(connections, request.recipientId);
      const outcome = newOutcome(request, entryId, (sockets?.size ?? 0) > 0);
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

    // Outcomes whose frames all left are written now; the rest wait with their entries
    // (held-entries.ts), which are acked once they are settled.
    const at = Date.now();
    const events: LedgerEvent[] = [];
    const unsettled: Outcome[] = [];
    const waiting = new Set<string>();
    for (const outcome of outcomes) {
      if (!isSettled(outcome)) {
        unsettled.push(outcome);
        waiting.add(outcome.entryId);
        continue;
      }
      const event = outcomeEvent(outcome, at, nodeId);
      events.push(event);
      log.debug({ notificationId: event.notificationId, event: event.type, connections: outcome.sentTo }, 'delivery outcome');
    }
    const hold = held.hold(unsettled);
    // Thrown, the batch stays pending and the consumer retries it: frames may go out twice
    // (at-least-once; clients dedupe by notificationId), outcomes are never lost. The XACK
    // follows the outcomes (one pipeline on one Redis, a second step on a cluster).
    try {
      await writeInOrder(redis, [
        replicated((pipe) => queueLedgerBatches(pipe, keys, events)),
        (pipe) => {
          queueDeadItems(pipe, stream, group, setAside);
          const done = entries.filter((e) => !waiting.has(e.id)).map((e) => e.id);
          if (done.length > 0) pipe.xack(stream, group, ...done);
        },
      ]);
    } catch (err) {
      hold.abandon();
      throw err;
    }
    hold.commit();
    if (metrics) record(metrics, outcomes, events, at);
  };

  function send(ws: ClientSocket, queue: Queued[]): void {
    let overflowAt: number | undefined;
    try {
      const data = ws.getUserData();
      if (data.closed || data.closing) return;
      let sent = 0;
      ws.cork(() => {
        for (const { frame, bytes, outcome } of queue) {
          const buffered = ws.getBufferedAmount();
          if (!withinBudget(buffered, bytes, maxBackpressureBytes) || ws.send(frame, false) === DROPPED) {
            overflowAt = buffered;
            return;
          }
          rememberSent(data, outcome.request.notificationId);
          sent++;
        }
      });
      if (!holdsFrames(data.frames) && ws.getBufferedAmount() === 0) {
        // The usual case: the socket took every byte at once, so every frame left the node.
        for (let i = 0; i < sent; i++) queue[i]!.outcome.sentTo++;
      } else {
        // Handed over, not yet delivered: each counts once it has left uWS for the kernel.
        for (let i = 0; i < sent; i++) handOver(data.frames, queue[i]!.bytes, queue[i]!.outcome);
        held.settle(ws);
      }
      if (overflowAt === undefined) return;
      // The rest of this socket's queue is not sent either; a notification no socket of
      // the recipient took fails BACKPRESSURE. What the socket holds still goes out before
      // its 4010, if the client reads again in time.
      log.info({ recipientId: data.recipientId, bufferedBytes: overflowAt, code: CLOSE.SLOW_CONSUMER }, 'closing a slow consumer');
      opts.closeWhenDrained(ws, CLOSE.SLOW_CONSUMER, 'slow consumer');
    } catch (err) {
      // A socket that died under us counts as not sent; the rest of the batch goes on.
      log.warn({ err: (err as Error).message }, 'sending to a socket failed');
    }
  }
}

/**
 * Measured once the outcomes are written, like the events they describe, so a retried
 * batch is measured once: each delivered notification is one accept-to-deliver sample,
 * taken when its frames had left for the kernel (`at`).
 */
function record(metrics: NonNullable<DeliveryHandlerOptions['metrics']>, outcomes: Outcome[], events: LedgerEvent[], at: number): void {
  metrics.ledger.written(events);
  for (const o of outcomes) if (isSettled(o) && o.sentTo > 0) metrics.acceptToDeliver((at - Date.parse(o.request.acceptedAt)) / 1000);
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
