import { PoisonEntry, eventCodec, writeInOrder, type Keys, type LedgerEvent, type Logger, type RedisClient, type StreamEntry } from '@pushflow/shared';
import { queueSnapshotDrops } from './snapshots.ts';
import { applyEvents, type Notifications } from './store.ts';

/**
 * The live projector: applies every event of a batch to the status documents, then drops
 * the status snapshots of the notifications whose documents now exist and acks the batch,
 * in one pipeline.
 *
 * The sender writes nothing to MongoDB for commands without an Idempotency-Key, so a new
 * notification's document is built here from its accepted and dispatched (or failed)
 * events, and its outcome when that is in the same batch, and written by one insert. A
 * keyed command's document was inserted by the sender: its accepted and dispatched events
 * change nothing and write nothing (evolve returns the same document).
 */
export function createProjector(deps: {
  redis: RedisClient; keys: Keys; notifications: Notifications; log: Logger; group: string;
  /** The events partition stream this projector's entries come from (it acks them there). */
  stream: string;
}) {
  return async function handleLedgerBatch(entries: StreamEntry[]): Promise<void> {
    const events: LedgerEvent[] = [];
    for (const entry of entries) {
      const event = eventCodec.decode(entry.fields);
      // The consumer then handles the entries one by one and dead-letters the malformed ones.
      if (!event) throw new PoisonEntry(`malformed ledger entry ${entry.id}`);
      events.push(event);
    }
    await applyEvents(deps.notifications, events, { log: deps.log });
    const accepted = new Set(events.filter((e) => e.type === 'notification.accepted').map((e) => e.notificationId));
    await writeInOrder(deps.redis, [
      (pipe) => queueSnapshotDrops(pipe, deps.keys, accepted),
      (pipe) => pipe.xack(deps.stream, deps.group, ...entries.map((e) => e.id)),
    ]);
    if (deps.log.isLevelEnabled('debug')) {
      for (const e of events) deps.log.debug({ notificationId: e.notificationId, type: e.type }, 'event projected');
    }
  };
}
