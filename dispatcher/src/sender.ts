import {
  encodeEntry, sendCommandCodec, uuidv7,
  type DeliveryRequest, type Keys, type LedgerEvent, type Logger, type Redis, type SendCommand, type StreamEntry,
} from '@pushflow/shared';
import { evolve, type NotificationDoc } from './projection.ts';
import { execPipeline, queueReplies } from './replies.ts';
import { routeRecipients } from './router.ts';
import { insertAccepted, type Notifications } from './store.ts';

/**
 * Handles one batch of `notification.send` commands: ids, routing, one insertMany of
 * the documents, then one pipeline that appends the ledger events, the delivery entries,
 * the replies and the XACK. Routing comes before the insert so each document is written
 * once with everything known so far, exactly what replaying those events would build.
 *
 * A crash between the insert and the pipeline leaves the commands pending; when they are
 * handled again the unique commandId index hands back the notification stored the first
 * time, and its events are appended again (the projection ignores repeats).
 */
export interface SenderDeps {
  redis: Redis;
  keys: Keys;
  notifications: Notifications;
  log: Logger;
  group: string;
  nodeTtlMs: number;
}

interface Planned {
  entryId: string;
  command: SendCommand;
  notificationId: string;
  events: LedgerEvent[];
  nodes: string[];
  doc: NotificationDoc;
}

export function createSendHandler(deps: SenderDeps) {
  const { redis, keys, log } = deps;

  return async function handleSendBatch(entries: StreamEntry[]): Promise<void> {
    const now = Date.now();
    const commands: { entryId: string; command: SendCommand }[] = [];
    const junk: string[] = [];
    for (const entry of entries) {
      const command = sendCommandCodec.decode(entry.fields);
      if (command) commands.push({ entryId: entry.id, command });
      else junk.push(entry.id);
    }
    if (junk.length) log.warn({ entryIds: junk }, 'dropping malformed commands');

    const routes = await routeRecipients(redis, keys, commands.map((c) => c.command.notification.recipientId), deps.nodeTtlMs, now);
    const planned = commands.map(({ entryId, command }) => plan(entryId, command, uuidv7(now), routes, now));
    const earlier = await insertAccepted(deps.notifications, planned.map((p) => p.doc));
    const final = earlier.size === 0 ? planned : planned.map((p) => {
      const first = earlier.get(p.command.correlationId);
      return first ? plan(p.entryId, p.command, first.notificationId, routes, first.acceptedAt) : p;
    });

    const pipe = redis.pipeline();
    for (const p of final) {
      for (const e of p.events) pipe.xadd(keys.events, '*', ...encodeEntry(e));
      if (p.nodes.length > 0) {
        const request = deliveryRequest(p);
        for (const node of p.nodes) pipe.xadd(keys.deliveries(node), '*', ...encodeEntry(request));
      }
    }
    queueReplies(pipe, final.map((p) => ({
      replyTo: p.command.replyTo,
      reply: {
        correlationId: p.command.correlationId,
        ok: true,
        result: { notificationId: p.notificationId, status: 'ACCEPTED', acceptedAt: new Date(p.doc.acceptedAt!).toISOString() },
      },
    })));
    pipe.xack(keys.commands, deps.group, ...entries.map((e) => e.id));
    await execPipeline(pipe);

    for (const p of final) {
      log.debug({ notificationId: p.notificationId, recipientId: p.command.notification.recipientId, nodes: p.nodes }, 'notification accepted');
    }
  };
}

function plan(entryId: string, command: SendCommand, notificationId: string, routes: Map<string, string[]>, at: number): Planned {
  const n = command.notification;
  const nodes = routes.get(n.recipientId) ?? [];
  const accepted: LedgerEvent = {
    type: 'notification.accepted', notificationId, at, commandId: command.correlationId, recipientId: n.recipientId,
    ...(n.title !== undefined && { title: n.title }),
    ...(n.body !== undefined && { body: n.body }),
    ...(n.data !== undefined && { data: n.data }),
  };
  const routed: LedgerEvent = nodes.length > 0
    ? { type: 'notification.dispatched', notificationId, at, nodeIds: nodes }
    : { type: 'notification.failed', notificationId, at, reason: 'RECIPIENT_OFFLINE' };
  const events = [accepted, routed];
  const doc = events.reduce<NotificationDoc | null>((d, e) => evolve(d, e), null)!;
  return { entryId, command, notificationId, events, nodes, doc };
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
