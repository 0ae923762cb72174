import type { ChainableCommander } from 'ioredis';
import { entriesOf } from './entries.ts';
import type { LedgerEvent } from '../domain/events.ts';
import type { Keys } from './keys.ts';

/**
 * Queues ledger events as one batched entry per events partition, each holding its events
 * in the order given: a notification's events share a partition, so they stay in order,
 * and one XADD is atomic, so a reader never sees its accepted event without its dispatch.
 */
export function queueLedgerBatches(pipe: ChainableCommander, keys: Keys, events: readonly LedgerEvent[]): void {
  for (const [stream, batch] of groupBy(events, (e) => keys.eventsOf(e.notificationId))) {
    for (const fields of entriesOf(batch)) pipe.xadd(stream, '*', ...fields);
  }
}

/** Items grouped by a key, each group in the order given, groups in order of first appearance. */
export function groupBy<T, K>(items: Iterable<T>, keyOf: (item: T) => K): Map<K, T[]> {
  const groups = new Map<K, T[]>();
  for (const item of items) {
    const key = keyOf(item);
    const group = groups.get(key);
    if (group) group.push(item);
    else groups.set(key, [item]);
  }
  return groups;
}
