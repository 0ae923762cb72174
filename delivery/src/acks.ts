import {
  backoffMs,
  queueLedgerBatches,
  writeInOrder,
  type Keys,
  type LedgerCounter,
  type Logger,
  type NotificationAcknowledged,
  type RedisClient,
} from '@pushflow/shared';
import { takeSent, type SocketData } from './socket.ts';

/**
 * Client acks become `notification.acknowledged` ledger events. Acks arrive one frame at a
 * time; buffering them for a few ms turns a burst into one pipeline.
 */
export interface AckRecorder {
  /** False when the socket was never sent that id (or acked it already): nothing is recorded. */
  record(data: SocketData, notificationId: string): boolean;
  flush(): Promise<void>;
  /** Flushes what is buffered; records nothing after. */
  stop(): Promise<void>;
}

export interface AckRecorderOptions {
  redis: RedisClient;
  keys: Keys;
  nodeId: string;
  log: Logger;
  flushMs?: number;
  maxBuffered?: number;
  /** Told the events once they are written. */
  ledger?: LedgerCounter;
}

// While Redis is away acks pile up; past this many the oldest are dropped (and logged), so
// an outage cannot grow memory without bound. The notification stays DELIVERED then.
const MAX_HELD = 10_000;

export function createAckRecorder(opts: AckRecorderOptions): AckRecorder {
  const { redis, keys, nodeId, log } = opts;
  const flushMs = opts.flushMs ?? 5;
  const maxBuffered = opts.maxBuffered ?? 200;
  let buffer: NotificationAcknowledged[] = [];
  let timer: NodeJS.Timeout | undefined;
  let flushing: Promise<void> = Promise.resolve();
  let stopped = false;
  let failures = 0;

  function schedule(delayMs: number): void {
    if (timer || stopped) return;
    timer = setTimeout(() => {
      timer = undefined;
      void recorder.flush();
    }, delayMs);
  }

  async function write(batch: NotificationAcknowledged[]): Promise<void> {
    // Events partitions may sit on several cluster masters.
    await writeInOrder(redis, [(pipe) => queueLedgerBatches(pipe, keys, batch)]);
    opts.ledger?.written(batch);
  }

  const recorder: AckRecorder = {
    record(data, notificationId) {
      if (stopped || !takeSent(data, notificationId)) return false;
      buffer.push({ type: 'notification.acknowledged', notificationId, at: Date.now(), nodeId });
      log.debug({ notificationId, recipientId: data.recipientId }, 'ack received');
      if (buffer.length >= maxBuffered) void recorder.flush();
      else schedule(flushMs);
      return true;
    },
    flush() {
      if (timer) {
        clearTimeout(timer);
        timer = undefined;
      }
      // One flush at a time keeps the ledger in ack order.
      flushing = flushing.then(async () => {
        if (buffer.length === 0) return;
        const batch = buffer;
        buffer = [];
        try {
          await write(batch);
          failures = 0;
        } catch (err) {
          failures++;
          buffer = batch.concat(buffer);
          if (buffer.length > MAX_HELD) {
            const dropped = buffer.splice(0, buffer.length - MAX_HELD);
            log.error({ dropped: dropped.length }, 'ack buffer full; dropping the oldest acks');
          }
          log.warn({ err: (err as Error).message, acks: buffer.length }, 'writing acks failed; will retry');
          if (!stopped) schedule(backoffMs(failures, 100, 5000));
        }
      });
      return flushing;
    },
    async stop() {
      await recorder.flush();
      stopped = true;
      if (timer) clearTimeout(timer);
      timer = undefined;
    },
  };
  return recorder;
}
