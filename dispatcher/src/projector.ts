import { eventCodec, type Keys, type LedgerEvent, type Logger, type Redis, type StreamEntry } from '@pushflow/shared';
import { applyEvents, type Notifications } from './store.ts';

/** Applies a batch of ledger events to the status documents, then acks the batch. */
export function createProjector(deps: { redis: Redis; keys: Keys; notifications: Notifications; log: Logger; group: string }) {
  return async function handleLedgerBatch(entries: StreamEntry[]): Promise<void> {
    const events: LedgerEvent[] = [];
    for (const entry of entries) {
      const event = eventCodec.decode(entry.fields);
      if (event) events.push(event);
      else deps.log.warn({ entryId: entry.id }, 'skipping malformed ledger entry');
    }
    await applyEvents(deps.notifications, events);
    await deps.redis.xack(deps.keys.events, deps.group, ...entries.map((e) => e.id));
    if (deps.log.isLevelEnabled('debug')) {
      for (const e of events) deps.log.debug({ notificationId: e.notificationId, type: e.type }, 'event projected');
    }
  };
}
