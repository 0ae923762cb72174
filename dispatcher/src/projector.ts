import { PoisonEntry, eventCodec, type Keys, type LedgerEvent, type Logger, type Redis, type StreamEntry } from '@pushflow/shared';
import { applyEvents, type Notifications } from './store.ts';

/**
 * The live projector: applies a batch of ledger events to the status documents, then
 * acks the batch.
 *
 * Events the dispatcher appends itself (accepted, dispatched, failed with no node) are
 * already folded into the document it wrote before appending them (sender.ts), so the
 * live projector skips them: about two thirds of the ledger, and no read for them.
 * A replay (replay.ts) applies every event.
 */
export function alreadyProjectedBySender(e: LedgerEvent): boolean {
  return e.type === 'notification.accepted' || e.type === 'notification.dispatched'
    || (e.type === 'notification.failed' && e.nodeId === undefined);
}

export function createProjector(deps: { redis: Redis; keys: Keys; notifications: Notifications; log: Logger; group: string }) {
  return async function handleLedgerBatch(entries: StreamEntry[]): Promise<void> {
    const events: LedgerEvent[] = [];
    for (const entry of entries) {
      const event = eventCodec.decode(entry.fields);
      // The consumer then handles the entries one by one and dead-letters the malformed ones.
      if (!event) throw new PoisonEntry(`malformed ledger entry ${entry.id}`);
      if (!alreadyProjectedBySender(event)) events.push(event);
    }
    await applyEvents(deps.notifications, events);
    await deps.redis.xack(deps.keys.events, deps.group, ...entries.map((e) => e.id));
    if (deps.log.isLevelEnabled('debug')) {
      for (const e of events) deps.log.debug({ notificationId: e.notificationId, type: e.type }, 'event projected');
    }
  };
}
