import type { Logger } from 'pino';
import { ensureGroup, isRedisError, readGroup, type Redis, type StreamEntry } from './redis.ts';

/**
 * A consumer-group loop that only reads and calls a handler. The handler owns acking, so
 * it can put XACK in the same pipeline as the writes the batch produced.
 *
 * On start it first re-reads entries this consumer name left pending (a restart after a
 * crash), then new ones. A failing handler leaves its batch pending and the loop retries
 * that same batch with backoff rather than reading more, so memory stays bounded during
 * an outage. NOGROUP (Redis restarted without its data) recreates the group.
 */
export interface ConsumerOptions {
  /** A connection used only by this loop: XREADGROUP BLOCK holds it. */
  redis: Redis;
  stream: string;
  group: string;
  consumer: string;
  count: number;
  blockMs: number;
  handler: (entries: StreamEntry[]) => Promise<void>;
  log: Logger;
}

export interface Consumer {
  /** Finishes the batch in hand, closes the loop's connection, then resolves. */
  stop(): Promise<void>;
}

export function startConsumer(opts: ConsumerOptions): Consumer {
  const { redis, stream, group, consumer, log } = opts;
  let stopping = false;
  let reading = false;
  let backoff = 0;
  let pendingFirst = true;

  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
  const nextBackoff = () => (backoff = Math.min(backoff ? backoff * 2 : 100, 5000));

  async function loop(): Promise<void> {
    let groupReady = false;
    while (!stopping) {
      try {
        if (!groupReady) {
          await ensureGroup(redis, stream, group);
          groupReady = true;
        }
        reading = true;
        const entries = await readGroup(redis, {
          stream, group, consumer, count: opts.count,
          id: pendingFirst ? '0' : '>',
          blockMs: pendingFirst ? undefined : opts.blockMs,
        });
        reading = false;
        if (pendingFirst && entries.length === 0) {
          pendingFirst = false;
          continue;
        }
        if (entries.length === 0) continue;
        try {
          await opts.handler(entries);
          backoff = 0;
        } catch (err) {
          pendingFirst = true; // retry the same entries, read nothing new meanwhile
          log.error({ err, stream, group, entries: entries.length }, 'batch handler failed; will retry');
          await sleep(nextBackoff());
        }
      } catch (err) {
        reading = false;
        if (stopping) break;
        if (isRedisError(err, 'NOGROUP')) {
          log.warn({ stream, group }, 'consumer group missing (Redis restarted without its data?); recreating it');
          groupReady = false;
          pendingFirst = true;
          continue;
        }
        log.warn({ err: (err as Error).message, stream, group }, 'stream read failed; retrying');
        await sleep(nextBackoff());
      }
    }
  }

  const done = loop();
  return {
    async stop() {
      stopping = true;
      // A blocked XREADGROUP would hold us for up to blockMs; closing its dedicated
      // connection ends it at once. A handler in flight is left to finish.
      if (reading) redis.disconnect();
      await done;
      redis.disconnect();
    },
  };
}
