import type { Static, TSchema } from '@sinclair/typebox';
import type { ChainableCommander } from 'ioredis';
import type { EntryCodec } from './entries.ts';
import type { Logger } from 'pino';
import { backoffMs } from '../runtime/backoff.ts';
import {
  ensureGroup,
  isRedisError,
  readGroup,
  readGroupWith,
  toEntries,
  type AlongCommand,
  type AlongResult,
  type RedisClient,
  type StreamEntry,
} from './redis.ts';

/**
 * A consumer-group loop that only reads and calls a handler. The handler owns acking, so
 * it can put XACK in the same pipeline as the writes the batch produced.
 *
 * - On start, and after every reconnect, it first re-reads the entries this consumer name
 *   left pending (a restart after a crash, a reply lost with its connection), then new ones.
 * - Entries another consumer left pending longer than `claimIdleMs` (it died) are taken
 *   over with XAUTOCLAIM. Re-read and claimed entries are marked `redelivered`.
 * - A failing handler keeps its batch and the loop retries that batch with backoff rather
 *   than reading more, so memory stays bounded during an outage, however long: a passing
 *   failure never dead-letters anything. Only a handler can tell that an entry itself is
 *   at fault: it throws a PoisonEntry, the batch is retried entry by entry, and the
 *   entries it names go to the dead-letter stream while their neighbours go on.
 * - Claimed entries already delivered more than `maxAttempts` times (they keep killing
 *   the consumers that take them) go to the dead-letter stream too.
 * - NOGROUP (Redis restarted without its data) recreates the group.
 */
export interface ConsumerOptions {
  /** A connection used only by this loop: XREADGROUP BLOCK holds it. */
  redis: RedisClient;
  stream: string;
  group: string;
  consumer: string;
  count: number;
  blockMs: number;
  handler: (entries: StreamEntry[]) => Promise<void>;
  log: Logger;
  /** Pending this long with another consumer: that consumer is presumed dead. */
  claimIdleMs?: number;
  /** Claimed entries delivered more often than this are dead-lettered. */
  maxAttempts?: number;
  /**
   * Called with poison entries after they were copied to the dead-letter stream and
   * before they are acked, so the service can record what became of them.
   */
  onDeadLetter?: (entries: StreamEntry[]) => Promise<void>;
  /** Told the size of every batch read (new, re-read or claimed; not retries), for metrics. */
  onBatch?: (size: number) => void;
  /**
   * When a read of new entries comes back short of `count`, wait this long and read what
   * arrived meanwhile into the same batch. Entries that belong together (a notification's
   * events, a few milliseconds apart) then meet in one handler call; costs that much latency.
   */
  lingerMs?: number;
  /**
   * The stream was consumed by another dispatcher that is gone (partition-leases.ts took its
   * lease over): claim everything the group has pending with other consumers at once,
   * however recently delivered, instead of after `claimIdleMs`. Handlers are idempotent, so
   * an owner that was only paused costs a duplicate, never a loss.
   */
  reclaimAtStart?: boolean;
  /**
   * A read to pipeline behind each blocking read of new entries (readGroupWith): Redis runs
   * it as the read returns, so its answer is as fresh as the batch. `take` gets what became
   * of it just before that batch is handled, and only when the read brought entries. Not
   * used on a Redis Cluster, where the two keys may live on different nodes.
   */
  alongside?: { command(): AlongCommand | undefined; take(result: AlongResult): void };
}

export interface Consumer {
  /** Finishes the batch in hand, closes the loop's connection, then resolves. */
  stop(): Promise<void>;
}

export const deadLetterStream = (stream: string) => `${stream}:dead`;

/**
 * Queues the malformed messages of a batched entry on the dead-letter stream, one entry
 * each, in the same pipeline as the writes of the good messages beside them and before
 * their XACK: one bad message never costs its neighbours, and none is dropped unseen.
 * Each dead entry names the entry it came from and holds the message as `data`.
 */
export function queueDeadItems(pipe: ChainableCommander, stream: string, group: string, setAside: readonly SetAside[]): void {
  for (const { entryId, malformed } of setAside) {
    for (const value of malformed) {
      pipe.xadd(
        deadLetterStream(stream),
        '*',
        'origin',
        entryId,
        'group',
        group,
        'data',
        typeof value === 'string' ? value : JSON.stringify(value),
      );
    }
  }
}

/** The malformed messages of one entry, for queueDeadItems. */
export interface SetAside {
  entryId: string;
  malformed: unknown[];
}

/**
 * Every good message of a batch of entries, in order (each mapped with the entry it came
 * in, when `map` is given), and the malformed ones set apart per entry.
 */
export function decodeEntries<T extends TSchema, R = Static<T>>(
  codec: EntryCodec<T>,
  entries: readonly StreamEntry[],
  map?: (item: Static<T>, entry: StreamEntry) => R,
): { items: R[]; setAside: SetAside[] } {
  const items: R[] = [];
  const setAside: SetAside[] = [];
  for (const entry of entries) {
    const { items: good, malformed } = codec.decodeAll(entry.fields);
    for (const item of good) items.push(map ? map(item, entry) : (item as R));
    if (malformed.length > 0) setAside.push({ entryId: entry.id, malformed });
  }
  return { items, setAside };
}

/** Thrown by a handler when an entry can never be handled, unlike an outage, which passes. */
export class PoisonEntry extends Error {
  readonly code = 'PUSHFLOW_POISON_ENTRY';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'PoisonEntry';
  }
}

const isPoison = (err: unknown) => err instanceof PoisonEntry;

export function startConsumer(opts: ConsumerOptions): Consumer {
  const { redis, stream, group, consumer, log } = opts;
  const claimIdleMs = opts.claimIdleMs ?? 30_000;
  const alongside = redis.isCluster ? undefined : opts.alongside;
  const maxAttempts = opts.maxAttempts ?? 5;
  let stopping = false;
  let reading = false;
  /** Failures in a row, handling or reading: how long the next retry waits. */
  let failures = 0;
  let pendingFirst = true;
  // Where the re-read of our pending list goes on from: a handler may leave entries pending
  // on purpose (delivery holds those waiting on a slow socket), and reading from 0 each
  // time would return them forever.
  let pendingFrom = '0';
  let nextClaimAt = Date.now() + Math.min(claimIdleMs, 5000);
  /** Claims with no idle time until one pass finds nothing left (see reclaimAtStart). */
  let reclaimAll = opts.reclaimAtStart ?? false;
  /** A batch that failed and is retried before anything new is read. */
  let retry: { entries: StreamEntry[]; attempts: number } | undefined;

  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
  const nextBackoff = () => backoffMs(failures++, 100, 5000);

  async function claim(): Promise<StreamEntry[]> {
    nextClaimAt = Date.now() + Math.max(1000, claimIdleMs / 2);
    const minIdle = reclaimAll ? 0 : claimIdleMs;
    const claimed: StreamEntry[] = [];
    let cursor = '0-0';
    do {
      const [next, raw] = (await redis.call('XAUTOCLAIM', stream, group, consumer, minIdle, cursor, 'COUNT', opts.count)) as [
        string,
        [string, string[] | null][],
      ];
      cursor = next;
      claimed.push(...toEntries([[stream, raw]]));
    } while (cursor !== '0-0' && claimed.length < opts.count);
    if (cursor === '0-0') reclaimAll = false;
    if (claimed.length === 0) return claimed;
    log.warn({ stream, group, entries: claimed.length }, 'claimed entries a dead consumer left pending');
    const counts = await deliveryCounts(claimed);
    const poison = claimed.filter((e) => (counts.get(e.id) ?? 0) > maxAttempts);
    if (poison.length > 0) await deadLetter(poison);
    return claimed.filter((e) => (counts.get(e.id) ?? 0) <= maxAttempts).map((e) => ({ ...e, redelivered: true }));
  }

  async function deliveryCounts(entries: StreamEntry[]): Promise<Map<string, number>> {
    const ids = entries.map((e) => e.id);
    const rows = (await redis.call('XPENDING', stream, group, ids[0]!, ids[ids.length - 1]!, ids.length * 2, consumer)) as [
      string,
      string,
      number,
      number,
    ][];
    return new Map(rows.map(([id, , , deliveries]) => [id, Number(deliveries)]));
  }

  async function deadLetter(entries: StreamEntry[]): Promise<void> {
    const pipe = redis.pipeline();
    for (const e of entries) pipe.xadd(deadLetterStream(stream), '*', 'origin', e.id, 'group', group, ...e.fields);
    await pipe.exec();
    await opts.onDeadLetter?.(entries);
    await redis.xack(stream, group, ...entries.map((e) => e.id));
    log.error({ stream, group, entryIds: entries.map((e) => e.id), deadLetter: deadLetterStream(stream) }, 'entries dead-lettered');
  }

  async function handle(entries: StreamEntry[], attempts: number): Promise<void> {
    try {
      await opts.handler(entries);
      retry = undefined;
      failures = 0;
    } catch (err) {
      const left = isPoison(err) ? await isolate(entries) : entries;
      if (left.length === 0) {
        retry = undefined;
        return;
      }
      retry = { entries: left.map((e) => ({ ...e, redelivered: true })), attempts: attempts + 1 };
      log.error({ err, stream, group, entries: left.length, attempts: attempts + 1 }, 'batch handler failed; will retry');
      await sleep(nextBackoff());
    }
  }

  /**
   * Handles the entries one by one: those the handler calls poison are dead-lettered, the
   * rest are handled. Returns what is left when a passing failure (an outage) interrupts.
   */
  async function isolate(entries: StreamEntry[]): Promise<StreamEntry[]> {
    const poison: StreamEntry[] = [];
    let left: StreamEntry[] = [];
    for (const [i, entry] of entries.entries()) {
      try {
        // Handed over once already, in the batch that failed: a handler that tells a
        // first attempt from a repeat (the sender routes a repeat again) must see a repeat.
        await opts.handler([{ ...entry, redelivered: true }]);
      } catch (err) {
        if (!isPoison(err)) {
          left = entries.slice(i);
          break;
        }
        poison.push(entry);
      }
    }
    if (poison.length > 0) await deadLetter(poison);
    return left;
  }

  async function loop(): Promise<void> {
    let groupReady = false;
    while (!stopping) {
      try {
        if (!groupReady) {
          await ensureGroup(redis, stream, group);
          groupReady = true;
        }
        if (retry) {
          await handle(retry.entries, retry.attempts);
          continue;
        }
        let entries: StreamEntry[];
        if (pendingFirst) {
          entries = (await readGroup(redis, { stream, group, consumer, count: opts.count, id: pendingFrom })).map((e) => ({
            ...e,
            redelivered: true,
          }));
          if (entries.length === 0) {
            pendingFirst = false;
            pendingFrom = '0';
          } else {
            pendingFrom = entries[entries.length - 1]!.id;
          }
        } else if (reclaimAll || Date.now() >= nextClaimAt) {
          entries = await claim();
        } else {
          reading = true;
          const blockMs = Math.max(1, Math.min(opts.blockMs, nextClaimAt - Date.now()));
          const along = alongside?.command();
          let taken: AlongResult | undefined;
          if (along)
            ({ entries, along: taken } = await readGroupWith(
              redis,
              { stream, group, consumer, count: opts.count, id: '>', blockMs },
              along,
            ));
          else entries = await readGroup(redis, { stream, group, consumer, count: opts.count, id: '>', blockMs });
          reading = false;
          if (taken && entries.length > 0) alongside!.take(taken);
          if (opts.lingerMs && entries.length > 0 && entries.length < opts.count && !stopping) {
            await sleep(opts.lingerMs);
            entries = entries.concat(await readGroup(redis, { stream, group, consumer, count: opts.count - entries.length, id: '>' }));
          }
        }
        if (entries.length > 0) {
          opts.onBatch?.(entries.length);
          await handle(entries, 0);
        }
      } catch (err) {
        reading = false;
        if (stopping) break;
        if (isRedisError(err, 'NOGROUP')) {
          // The group, and with it the record of what was pending, is gone: Redis lost its
          // data. Whatever the stream held before is lost with it; say how much is left.
          const length = await redis.xlen(stream).catch(() => undefined);
          log.error(
            { stream, group, entriesNowInStream: length },
            'consumer group missing: Redis restarted without its data; entries not yet handled before that are lost; recreating the group',
          );
          groupReady = false;
          pendingFirst = true;
          continue;
        }
        log.warn({ err: (err as Error).message, stream, group }, 'stream read failed; retrying');
        // Entries read just before a connection dropped may never have reached us: they
        // sit in our pending list, so read that first once Redis answers again.
        pendingFirst = true;
        await sleep(nextBackoff());
      }
    }
  }

  // A read whose reply the dying connection lost still took its entries into our pending
  // list, and ioredis resends it on reconnect asking only for newer ones: re-read that
  // list after every reconnect, not only after a read that failed (CI saw an entry sit
  // there until claimIdleMs after kill -9 of Redis).
  const onReconnect = () => void (pendingFirst = true);
  redis.on('ready', onReconnect);

  const done = loop();
  return {
    async stop() {
      stopping = true;
      redis.off('ready', onReconnect);
      // A blocked XREADGROUP would hold us for up to blockMs; closing its dedicated
      // connection ends it at once. A handler in flight is left to finish.
      if (reading) redis.disconnect();
      await done;
      redis.disconnect();
    },
  };
}
