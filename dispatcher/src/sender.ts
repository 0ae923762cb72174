import {
  PoisonEntry, encodeEntry, sendCommandCodec, uuidv7,
  type DeliveryRequest, type Keys, type LedgerCounter, type LedgerEvent, type Logger, type Redis, type Reply, type SendCommand, type StreamEntry,
} from '@pushflow/shared';
import { evolve, type NotificationDoc } from './projection.ts';
import { execPipeline, queueReplies } from './replies.ts';
import { routeRecipients } from './router.ts';
import { applyEvents, insertAccepted, type Notifications } from './store.ts';

/**
 * Handles one batch of `notification.send` commands: ids, routing, one insertMany of
 * the documents, then one pipeline that appends the ledger events, the delivery entries,
 * the replies and the XACK. Routing comes before the insert so each document is written
 * once with everything known so far, exactly what replaying those events would build.
 *
 * The unique commandId index is what makes sends idempotent. A command's id is its
 * correlation id, or `idem:<key>` when the caller sent an Idempotency-Key, so every retry
 * with that key (in this batch, a later one, or on another dispatcher) finds the
 * notification stored first. A retry with the same body is answered with that
 * notification and routed no further; one with another body is refused.
 *
 * A crash between the insert and the pipeline leaves the commands pending; when they are
 * read again (redelivered) the index hands back the notification stored the first time,
 * and its events and deliveries are appended again (the projection ignores repeats;
 * clients dedupe frames by notificationId).
 */
export interface SenderDeps {
  redis: Redis;
  keys: Keys;
  notifications: Notifications;
  log: Logger;
  group: string;
  nodeTtlMs: number;
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

    const routes = await routeRecipients(redis, keys, commands.map((c) => c.command.notification.recipientId), deps.nodeTtlMs, now);
    const planned = commands.map(({ command, redelivered }) => plan(command, redelivered, uuidv7(now), routes, now));
    const stored = await insertAccepted(deps.notifications, planned.map((p) => p.doc));
    const plannedIds = new Set(planned.map((p) => p.notificationId));

    const routed: Planned[] = [];
    /** Routed again for a document an earlier attempt stored: its route may differ now. */
    const rerouted: Planned[] = [];
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
      if (p.redelivered && !plannedIds.has(first.notificationId)) {
        const again = plan(p.command, true, first.notificationId, routes, first.acceptedAt);
        routed.push(again);
        rerouted.push(again);
      } else {
        log.debug({ notificationId: first.notificationId }, 'retry answered with the notification stored first');
      }
      replies.push(acceptedReply(p.command, first.notificationId, first.acceptedAt));
    }

    // The live projector skips the events the sender appends (projector.ts), trusting that
    // the document already holds them; a new route for a stored document must be folded in
    // here, before its events are appended.
    if (rerouted.length > 0) await applyEvents(deps.notifications, rerouted.flatMap((p) => p.events));

    const pipe = redis.pipeline();
    for (const p of routed) {
      for (const e of p.events) pipe.xadd(keys.events, '*', ...encodeEntry(e));
      if (p.nodes.length > 0) {
        const request = deliveryRequest(p);
        for (const node of p.nodes) pipe.xadd(keys.deliveries(node), '*', ...encodeEntry(request));
      }
    }
    queueReplies(pipe, replies);
    pipe.xack(keys.commands, deps.group, ...entries.map((e) => e.id));
    await execPipeline(pipe);
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
  const n = command.notification;
  const nodes = routes.get(n.recipientId) ?? [];
  const accepted: LedgerEvent = {
    type: 'notification.accepted', notificationId, at, commandId: commandIdOf(command), recipientId: n.recipientId,
    ...(n.title !== undefined && { title: n.title }),
    ...(n.body !== undefined && { body: n.body }),
    ...(n.data !== undefined && { data: n.data }),
    ...(command.requestHash !== undefined && { requestHash: command.requestHash }),
  };
  const routed: LedgerEvent = nodes.length > 0
    ? { type: 'notification.dispatched', notificationId, at, nodeIds: nodes }
    : { type: 'notification.failed', notificationId, at, reason: 'RECIPIENT_OFFLINE' };
  const events = [accepted, routed];
  const doc = events.reduce<NotificationDoc | null>((d, e) => evolve(d, e), null)!;
  return { command, redelivered, notificationId, events, nodes, doc };
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
