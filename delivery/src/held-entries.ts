import {
  backoffMs,
  queueLedgerBatches,
  replicated,
  writeInOrder,
  type Keys,
  type LedgerEvent,
  type Logger,
  type RedisClient,
} from '@pushflow/shared';
import type { DeliveryMetrics } from './metrics.ts';
import { isSettled, outcomeEvent, type Outcome } from './outcomes.ts';
import type { ClientSocket } from './socket.ts';
import { holdsFrames, takeDrained, takeHeld } from './socket-frames.ts';

/**
 * Entries whose notifications wait on frames a socket still buffers (docs/design.md,
 * "Delivered means drained"). Such an entry stays pending in the node's consumer group, so
 * a node that dies meanwhile leaves it to the reaper (NODE_LOST), and is acked once each
 * of its outcomes is settled: a frame drained (DELIVERED) or thrown away with its socket
 * (CONNECTION_LOST). The batch it came in goes on without it; the stream is not held up.
 */
export interface HeldEntries {
  /** Settles the frames a socket no longer holds; returns the bytes it still buffers. */
  settle(ws: ClientSocket): number;
  /** The socket is closed or dropped: every frame it held is lost. */
  socketGone(ws: ClientSocket): void;
  /** Sockets holding frames, for the sweep that catches drains uWS reports no event for. */
  holdingSockets(): Iterable<ClientSocket>;
  /** True while an entry waits here: a re-read of it must not be sent again. */
  isHeld(entryId: string): boolean;
  /**
   * Holds the entries of these unsettled outcomes. Nothing is written for them until the
   * batch's own write succeeded (`commit`); if it failed, `abandon` lets the retried batch
   * take them again.
   */
  hold(unsettled: readonly Outcome[]): { commit(): void; abandon(): void };
  /** Writes what is settled, for up to `ms`; entries still held stay pending in Redis. */
  stop(ms?: number): Promise<void>;
}

export interface HeldEntriesOptions {
  redis: RedisClient;
  keys: Keys;
  /** The node's deliveries stream and its group, where held entries are acked. */
  stream: string;
  group: string;
  nodeId: string;
  log: Logger;
  metrics?: Pick<DeliveryMetrics, 'ledger' | 'acceptToDeliver'>;
}

interface Held {
  entryId: string;
  unsettled: number;
  events: LedgerEvent[];
  /** Accept-to-deliver seconds of its delivered notifications, measured once written. */
  latencies: number[];
  committed: boolean;
  abandoned: boolean;
}

export function createHeldEntries(opts: HeldEntriesOptions): HeldEntries {
  const { redis, keys, stream, group, nodeId, log, metrics } = opts;
  const held = new Map<string, Held>();
  // An outcome belongs to the hold made for its batch, not to whatever holds its entry id
  // now: after an abandoned write, the retry holds the same id anew.
  const holdOf = new WeakMap<Outcome, Held>();
  const holding = new Set<ClientSocket>();
  let ready: Held[] = [];
  let writing: Promise<void> | undefined;
  let failures = 0;

  function settled(o: Outcome): void {
    const h = holdOf.get(o);
    if (!h || h.abandoned) return;
    const event = outcomeEvent(o, Date.now(), nodeId);
    h.events.push(event);
    if (o.sentTo > 0) h.latencies.push((event.at - Date.parse(o.request.acceptedAt)) / 1000);
    log.debug({ notificationId: event.notificationId, event: event.type, connections: o.sentTo }, 'delivery outcome after drain');
    if (--h.unsettled === 0 && h.committed) markReady(h);
  }

  function markReady(h: Held): void {
    ready.push(h);
    writing ??= writeReady();
  }

  async function writeReady(): Promise<void> {
    // One pipeline for whatever settled meanwhile; a failure keeps it for the next try.
    while (ready.length > 0) {
      const batch = ready;
      ready = [];
      const events = batch.flatMap((h) => h.events);
      try {
        await writeInOrder(redis, [
          replicated((pipe) => queueLedgerBatches(pipe, keys, events)),
          (pipe) => pipe.xack(stream, group, ...batch.map((h) => h.entryId)),
        ]);
        failures = 0;
        for (const h of batch) if (held.get(h.entryId) === h) held.delete(h.entryId);
        if (metrics) {
          metrics.ledger.written(events);
          for (const h of batch) for (const seconds of h.latencies) metrics.acceptToDeliver(seconds);
        }
      } catch (err) {
        ready = batch.concat(ready);
        log.warn({ err: (err as Error).message, entries: batch.length }, 'writing outcomes after drain failed; retrying');
        await new Promise((r) => setTimeout(r, backoffMs(failures++, 100, 5000)));
      }
    }
    writing = undefined;
  }

  function lose(o: Outcome): void {
    o.lost++;
    if (--o.waiting === 0) settled(o);
  }

  return {
    settle(ws) {
      const data = ws.getUserData();
      if (data.closed) return 0;
      const buffered = ws.getBufferedAmount();
      for (const o of takeDrained(data.frames, buffered)) {
        o.sentTo++;
        if (--o.waiting === 0) settled(o);
      }
      if (holdsFrames(data.frames)) holding.add(ws);
      else holding.delete(ws);
      return buffered;
    },
    socketGone(ws) {
      holding.delete(ws);
      for (const o of takeHeld(ws.getUserData().frames)) lose(o);
    },
    holdingSockets: () => holding,
    isHeld: (entryId) => held.has(entryId),
    hold(unsettled) {
      const made: Held[] = [];
      for (const o of unsettled) {
        if (isSettled(o)) continue;
        let h = held.get(o.entryId);
        if (!h) {
          h = { entryId: o.entryId, unsettled: 0, events: [], latencies: [], committed: false, abandoned: false };
          held.set(o.entryId, h);
          made.push(h);
        }
        h.unsettled++;
        holdOf.set(o, h);
      }
      return {
        commit() {
          for (const h of made) {
            h.committed = true;
            if (h.unsettled === 0) markReady(h);
          }
        },
        abandon() {
          for (const h of made) {
            h.abandoned = true;
            if (held.get(h.entryId) === h) held.delete(h.entryId);
          }
        },
      };
    },
    async stop(ms = 5000) {
      const deadline = Date.now() + ms;
      while (writing && Date.now() < deadline) await Promise.race([writing, new Promise((r) => setTimeout(r, deadline - Date.now()))]);
      if (held.size > 0)
        log.warn({ entries: held.size }, 'stopping with entries still held: they stay pending for a restart or the reaper');
    },
  };
}
