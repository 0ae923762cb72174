import {
  decodeEntries,
  eventCodec,
  queueDeadItems,
  writeInOrder,
  type Keys,
  type Logger,
  type RedisClient,
  type StreamEntry,
} from '@pushflow/shared';
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
  redis: RedisClient;
  keys: Keys;
  notifications: Notifications;
  log: Logger;
  group: string;
  /** The events partition stream this projector's entries come from (it acks them there). */
  stream: string;
}) {
  return async function handleLedgerBatch(entries: StreamEntry[]): Promise<void> {
    // A malformed event is set aside on its own; the good events around it are projected.
    const { items: events, setAside } = decodeEntries(eventCodec, entries);
    if (setAside.length > 0)
      deps.log.error({ stream: deps.stream, entryIds: setAside.map((j) => j.entryId) }, 'malformed ledger events dead-lettered');
    await applyEvents(deps.notifications, events, { log: deps.log });
    const accepted = new Set(events.filter((e) => e.type === 'notification.accepted').map((e) => e.notificationId));
    await writeInOrder(deps.redis, [
      (pipe) => queueSnapshotDrops(pipe, deps.keys, accepted),
      (pipe) => {
        queueDeadItems(pipe, deps.stream, deps.group, setAside);
        pipe.xack(deps.stream, deps.group, ...entries.map((e) => e.id));
      },
    ]);
    if (deps.log.isLevelEnabled('debug')) {
      for (const e of events) deps.log.debug({ notificationId: e.notificationId, type: e.type }, 'event projected');
    }
  };
}
