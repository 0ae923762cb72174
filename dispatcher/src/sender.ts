import {
  decodeEntries, entriesOf, evolve, evolveAll, queueDeadItems, queueLedgerBatches, replicated, sendCommandCodec, uuidv7, writeInOrder,
  type DeliveryRequest, type Keys, type LedgerCounter, type LedgerEvent, type Logger, type NotificationDoc, type RedisClient, type Reply,
  type SendCommand, type StreamEntry,
} from '@pushflow/shared';
import { rememberCommands } from './command-memory.ts';
import { refusalReplies } from './refusals.ts';
import { queueReplies } from './replies.ts';
import { routeRecipients } from './router.ts';
import { queueSnapshot } from './snapshots.ts';
import { insertAccepted, storeDocuments, type Notifications, type StoredCommand } from './store.ts';

/**
 * Handles one batch of `notification.send` commands: ids, routing, then ordered writes (one
 * pipeline on one Redis) that append the ledger events (one batched entry per events
 * partition), the status snapshots, the delivery entries (one per node), the replies (one
 * per gateway) and the XACK. The projector (projector.ts) builds the MongoDB documents from
 * those events.
 *
 * A command's id is its correlation id, or `idem:<key>` when the caller sent an
 * Idempotency-Key. Each command id makes one notification:
 * - Without a key (the hot path), Redis remembers the notification a command became
 *   (command-memory.ts), for as long as a crashed dispatcher's commands can stay pending;
 *   MongoDB is not on the path. A read of the status before the projector wrote the
 *   document is answered from the snapshot (snapshots.ts).
 * - With a key, the command is claimed in MongoDB's `commands` collection and its document
 *   inserted before anything is appended (store.ts insertAccepted); the claim finds the
 *   notification made first, for as long as that document lives (30 days by default), on
 *   every dispatcher: correctness over speed. A retry with another body is refused.
 * A retry that finds its notification is answered with it and routed no further.
 *
 * A crash between recording and the pipeline leaves the commands pending; when they are
 * read again (redelivered) the record hands back the notification made the first time,
 * and its events and deliveries are appended again (the projection ignores repeats;
 * clients dedupe frames by notificationId).
 */
export interface SenderDeps {
  redis: RedisClient;
  keys: Keys;
  notifications: Notifications;
  log: Logger;
  /** The commands partition stream this handler's entries come from (it acks them there). */
  stream: string;
  group: string;
  nodeTtlMs: number;
  /** How long command records and status snapshots live (PUSHFLOW_COMMAND_MEMORY_SECONDS); ten minutes by default. */
  commandMemoryMs?: number;
  /** Told the events once they are written. */
  ledger?: LedgerCounter;
  /**
   * Where each recipient's sockets are (recipient id -> live node ids, sorted); the
   * dispatcher's in-memory route table (route-table.ts). Without it, presence is read
   * from Redis for every batch (router.ts).
   */
  route?: (recipientIds: string[], now: number) => Promise<Map<string, string[]>>;
}

interface Planned {
  command: SendCommand;
  redelivered: boolean;
  notificationId: string;
  events: LedgerEvent[];
  nodes: string[];
  doc: NotificationDoc;
}

export const IDEMPOTENCY_PREFIX = 'idem:';

export function commandIdOf(command: SendCommand): string {
  return command.idempotencyKey === undefined ? command.correlationId : `${IDEMPOTENCY_PREFIX}${command.idempotencyKey}`;
}

export function createSendHandler(deps: SenderDeps) {
  const { redis, keys, log } = deps;
  const memoryMs = deps.commandMemoryMs ?? 3_600_000;

  const route = deps.route ?? ((recipientIds: string[], now: number) => routeRecipients(redis, keys, recipientIds, deps.nodeTtlMs, now));

  return async function handleSendBatch(entries: StreamEntry[]): Promise<void> {
    const now = Date.now();
    // Malformed commands are set aside one by one, in the same pipeline as the good
    // commands' writes, and their callers answered: a batch entry never loses its good ones.
    const { items: commands, setAside } = decodeEntries(sendCommandCodec, entries, (command, entry) => ({ command, redelivered: entry.redelivered === true }));
    if (setAside.length > 0) log.error({ stream: deps.stream, entryIds: setAside.map((j) => j.entryId) }, 'malformed send commands dead-lettered');

    // Every command the codec passed can be stored: its refine holds `data` to the key rules
    // (checkData) and the schema holds the content to CONTENT_CEILINGS, far below BSON's
    // 16 MiB, so no document is serialized here only to find out. Should the database refuse
    // one anyway, the projector sets its events aside (store.ts).
    const ids = commands.map(() => uuidv7(now));

    const unkeyed = commands.flatMap(({ command }, i) => (command.idempotencyKey === undefined
      ? [{ commandId: commandIdOf(command), notificationId: ids[i]!, acceptedAt: now }]
      : []));
    const [routes, remembered] = await Promise.all([
      route(commands.map((c) => c.command.notification.recipientId), now),
      rememberCommands(redis, keys, unkeyed, memoryMs),
    ]);
    const planned = commands.map(({ command, redelivered }, i) => plan(command, redelivered, ids[i]!, routes, now));
    const keyed = planned.filter((p) => p.command.idempotencyKey !== undefined);
    const stored: Map<string, StoredCommand> = new Map([...remembered, ...await insertAccepted(deps.notifications, keyed.map((p) => p.doc))]);
    const plannedIds = new Set(planned.map((p) => p.notificationId));

    const routed: Planned[] = [];
    /**
     * Documents of keyed notifications this batch answers with but did not store: their
     * claim is made, yet the attempt that made it may not have inserted the document yet
     * (another dispatcher between its two inserts) or ever (it died there).
     */
    const claimedElsewhere = new Map<string, NotificationDoc>();
    const replies = refusalReplies(keys, setAside.flatMap((j) => j.malformed), log);
    for (const p of planned) {
      const first = stored.get(p.doc.commandId!);
      if (!first || first.notificationId === p.notificationId) {
        routed.push(p);
        replies.push(acceptedReply(p.command, p.notificationId, p.doc.acceptedAt!));
        continue;
      }
      if (first.requestHash !== p.command.requestHash) {
        log.info({ notificationId: first.notificationId }, 'idempotency key reused for a different request; refused');
        replies.push({
          replyTo: p.command.replyTo,
          reply: {
            correlationId: p.command.correlationId,
            ok: false,
            error: { code: 'IDEMPOTENCY_KEY_REUSED', message: 'this Idempotency-Key was used for a different request' },
          },
        });
        continue;
      }
      // Only this command's own earlier attempt can have died before its events were
      // appended; a notification stored by another command is that command's to route.
      // Routed again with today's route: the projector folds the new dispatch in.
      if (p.redelivered && !plannedIds.has(first.notificationId)) {
        const again = plan(p.command, true, first.notificationId, routes, first.acceptedAt);
        routed.push(again);
        if (p.command.idempotencyKey !== undefined) claimedElsewhere.set(again.notificationId, again.doc);
      } else {
        log.debug({ notificationId: first.notificationId }, 'retry answered with the notification stored first');
        // Without its route, which is the attempt's that stored it: the projector folds that in.
        if (p.command.idempotencyKey !== undefined && !plannedIds.has(first.notificationId) && !claimedElsewhere.has(first.notificationId)) {
          claimedElsewhere.set(first.notificationId, evolve(null, acceptedEvent(p.command, first.notificationId, first.acceptedAt)));
        }
      }
      replies.push(acceptedReply(p.command, first.notificationId, first.acceptedAt));
    }

    // Before the answer, so that a status read finds what it names. Where the document is
    // already, its _id refuses this one.
    await storeDocuments(deps.notifications, [...claimedElsewhere.values()]);

    // In order: the ledger events and snapshots, the deliveries, the replies, the XACK. On
    // one Redis that is one pipeline (ordered-writes.ts); on a cluster each step waits for
    // the one before, so an answer never names a notification whose events could be lost,
    // a delivered event never precedes its accepted one, and an entry is acked last. The
    // first two steps wait for a replica (on a cluster), so a failover cannot take back
    // what the reply promises. Each step appends one batched entry per stream it writes to:
    // one per events partition (a notification's accepted and dispatched events inside one
    // entry, so a projector never reads one without the other), one per delivery node and
    // one per gateway.
    await writeInOrder(redis, [
      replicated((pipe) => {
        queueLedgerBatches(pipe, keys, routed.flatMap((p) => p.events));
        // A keyed command's document is in MongoDB already.
        for (const p of routed) if (p.command.idempotencyKey === undefined) queueSnapshot(pipe, keys, p.doc, memoryMs);
      }),
      replicated((pipe) => {
        const perNode = new Map<string, DeliveryRequest[]>();
        for (const p of routed) {
          if (p.nodes.length === 0) continue;
          const request = deliveryRequest(p);
          for (const node of p.nodes) {
            const batch = perNode.get(node);
            if (batch) batch.push(request);
            else perNode.set(node, [request]);
          }
        }
        for (const [node, batch] of perNode) for (const fields of entriesOf(batch)) pipe.xadd(keys.deliveries(node), '*', ...fields);
      }),
      (pipe) => queueReplies(pipe, replies),
      (pipe) => {
        queueDeadItems(pipe, deps.stream, deps.group, setAside);
        pipe.xack(deps.stream, deps.group, ...entries.map((e) => e.id));
      },
    ]);
    deps.ledger?.written(routed.flatMap((p) => p.events));

    for (const p of routed) {
      log.debug({ notificationId: p.notificationId, recipientId: p.command.notification.recipientId, nodes: p.nodes }, 'notification accepted');
    }
  };
}

function acceptedReply(command: SendCommand, notificationId: string, acceptedAt: number): { replyTo: string; reply: Reply } {
  return {
    replyTo: command.replyTo,
    reply: {
      correlationId: command.correlationId,
      ok: true,
      result: { notificationId, status: 'ACCEPTED', acceptedAt: new Date(acceptedAt).toISOString() },
    },
  };
}

function plan(command: SendCommand, redelivered: boolean, notificationId: string, routes: Map<string, string[]>, at: number): Planned {
  const nodes = routes.get(command.notification.recipientId) ?? [];
  const accepted = acceptedEvent(command, notificationId, at);
  const routed: LedgerEvent = nodes.length > 0
    ? { type: 'notification.dispatched', notificationId, at, nodeIds: nodes }
    : { type: 'notification.failed', notificationId, at, reason: 'RECIPIENT_OFFLINE' };
  const events = [accepted, routed];
  const doc = evolveAll(null, events)!;
  return { command, redelivered, notificationId, events, nodes, doc };
}

function acceptedEvent(command: SendCommand, notificationId: string, at: number): LedgerEvent {
  const n = command.notification;
  return {
    type: 'notification.accepted', notificationId, at, commandId: commandIdOf(command), recipientId: n.recipientId,
    ...(n.title !== undefined && { title: n.title }),
    ...(n.body !== undefined && { body: n.body }),
    ...(n.data !== undefined && { data: n.data }),
    ...(command.requestHash !== undefined && { requestHash: command.requestHash }),
  };
}

function deliveryRequest(p: Planned): DeliveryRequest {
  const n = p.command.notification;
  return {
    notificationId: p.notificationId,
    recipientId: n.recipientId,
    ...(n.title !== undefined && { title: n.title }),
    ...(n.body !== undefined && { body: n.body }),
    ...(n.data !== undefined && { data: n.data }),
    acceptedAt: new Date(p.doc.acceptedAt!).toISOString(),
  };
}
