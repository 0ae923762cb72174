import type { ChainableCommander } from 'ioredis';
import {
  PoisonEntry, encodeEntry, evolve, replicated, sendCommandCodec, uuidv7, writeInOrder,
  type DeliveryRequest, type Keys, type LedgerCounter, type LedgerEvent, type Logger, type NotificationDoc, type RedisClient, type Reply,
  type SendCommand, type StreamEntry,
} from '@pushflow/shared';
import { rememberCommands } from './command-memory.ts';
import { queueReplies } from './replies.ts';
import { routeRecipients } from './router.ts';
import { queueSnapshot } from './snapshots.ts';
import { insertAccepted, storeDocuments, unencodable, type Notifications, type StoredCommand } from './store.ts';

/**
 * Handles one batch of `notification.send` commands: ids, routing, then ordered writes (one
 * pipeline on one Redis) that append the ledger events (in one MULTI), the status snapshots,
 * the delivery entries, the replies and the XACK. The projector (projector.ts) builds the MongoDB documents from those events.
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

  return async function handleSendBatch(entries: StreamEntry[]): Promise<void> {
    const now = Date.now();
    const commands: { command: SendCommand; redelivered: boolean }[] = [];
    const junk: string[] = [];
    for (const entry of entries) {
      const command = sendCommandCodec.decode(entry.fields);
      if (command) commands.push({ command, redelivered: entry.redelivered === true });
      else junk.push(entry.id);
    }
    // The consumer then handles the entries one by one and dead-letters the malformed ones.
    if (junk.length) throw new PoisonEntry(`malformed commands: ${junk.join(', ')}`);

    // Refused before anything is recorded or appended: the projector could never store it.
    // The accepted event carries everything the caller sent; the routing adds only node ids.
    const ids = commands.map(() => uuidv7(now));
    const refusal = unencodable(commands.map(({ command }, i) => evolve(null, acceptedEvent(command, ids[i]!, now))));
    if (refusal) throw refusal;

    const unkeyed = commands.flatMap(({ command }, i) => (command.idempotencyKey === undefined
      ? [{ commandId: commandIdOf(command), notificationId: ids[i]!, acceptedAt: now }]
      : []));
    const [routes, remembered] = await Promise.all([
      routeRecipients(redis, keys, commands.map((c) => c.command.notification.recipientId), deps.nodeTtlMs, now),
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
    const replies: { replyTo: string; reply: Reply }[] = [];
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
    // what the reply promises.
    await writeInOrder(redis, [
      replicated((pipe) => {
        // One transaction per ledger partition (one slot each): a projector blocked on it
        // wakes after EXEC, never between a notification's accepted and dispatched events, so
        // it builds the document whole and inserts it once instead of inserting and replacing it.
        for (const events of byPartition(keys, routed.flatMap((p) => p.events))) {
          // ioredis queues MULTI and EXEC inside a pipeline; its types leave `multi` out.
          const tx = pipe as ChainableCommander & { multi(): ChainableCommander };
          tx.multi();
          for (const e of events) pipe.xadd(keys.eventsOf(e.notificationId), '*', ...encodeEntry(e));
          void pipe.exec();
        }
        // A keyed command's document is in MongoDB already.
        for (const p of routed) if (p.command.idempotencyKey === undefined) queueSnapshot(pipe, keys, p.doc, memoryMs);
      }),
      replicated((pipe) => {
        for (const p of routed) {
          if (p.nodes.length === 0) continue;
          const request = deliveryRequest(p);
          for (const node of p.nodes) pipe.xadd(keys.deliveries(node), '*', ...encodeEntry(request));
        }
      }),
      (pipe) => queueReplies(pipe, replies),
      (pipe) => pipe.xack(deps.stream, deps.group, ...entries.map((e) => e.id)),
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
  const doc = events.reduce<NotificationDoc | null>((d, e) => evolve(d, e), null)!;
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

/** Events grouped by their ledger partition, each group in the order given. */
function byPartition(keys: Keys, events: LedgerEvent[]): LedgerEvent[][] {
  const groups = new Map<number, LedgerEvent[]>();
  for (const e of events) {
    const p = keys.partitionOf(e.notificationId);
    const group = groups.get(p);
    if (group) group.push(e);
    else groups.set(p, [e]);
  }
  return [...groups.values()];
}
