import { consumerGroups, minId, type Keys, type Logger, type RedisClient } from '@pushflow/shared';

/**
 * Ledger retention (docs/design.md, "What is kept, and for how long"): the ledger is trimmed only below what
 * every consumer group has processed, and only past the retention time. An entry pending
 * for any consumer is therefore never trimmed, nor one a group has not read yet.
 *
 * Groups only move forward between our read and the XTRIM (last-delivered ids grow,
 * pending entries get acked), so a point that was safe when computed stays safe.
 */
export interface TrimDeps {
  redis: RedisClient;
  keys: Keys;
  retentionMs: number;
  log: Logger;
  now?: number;
}

export interface TrimResult {
  /** Entries older than this id were removed (the lowest over the partitions); undefined when nothing could be. */
  minId?: string;
  trimmed: number;
}

export async function trimLedger(deps: TrimDeps): Promise<TrimResult> {
  const { redis, keys, log } = deps;
  const now = deps.now ?? Date.now();
  const oldestKept = now - deps.retentionMs;
  if (oldestKept <= 0) return { trimmed: 0 };

  // Each partition's groups move on their own: each is trimmed below its own safe point.
  let trimmed = 0;
  let lowest: string | undefined;
  for (const stream of keys.allEvents) {
    const points = await groupSafePoints(redis, stream);
    // No group: nobody has processed anything, so nothing is safe to drop.
    if (points === undefined || points.length === 0) continue;
    const safe = minId([...points, `${oldestKept}-0`])!;
    const removed = Number(await redis.xtrim(stream, 'MINID', safe));
    if (removed > 0) log.info({ stream, minId: safe, trimmed: removed }, 'ledger trimmed');
    trimmed += removed;
    lowest = minId(lowest === undefined ? [safe] : [lowest, safe]);
  }
  return lowest === undefined ? { trimmed } : { minId: lowest, trimmed };
}

/**
 * Per group, the oldest id it still needs: its oldest pending entry, or, with nothing
 * pending, the id just after the last one it was handed. Undefined without the stream.
 */
export async function groupSafePoints(redis: RedisClient, stream: string): Promise<string[] | undefined> {
  const groups = await consumerGroups(redis, stream);
  if (!groups) return undefined;
  const points: string[] = [];
  for (const g of groups) {
    if (g.pending > 0) {
      const [, oldestPending] = (await redis.xpending(stream, g.name)) as [number, string | null, string | null, unknown];
      // Pending ids never exceed last-delivered; fall back to it if the summary raced an ack.
      points.push(oldestPending ?? after(g.lastDeliveredId));
    } else {
      points.push(after(g.lastDeliveredId));
    }
  }
  return points;
}

function after(id: string): string {
  const [ms = '0', seq = '0'] = id.split('-');
  return `${ms}-${BigInt(seq) + 1n}`;
}
