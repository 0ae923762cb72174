import {
  addContent,
  evolveAll,
  type DeliveryRequest,
  type LedgerEvent,
  type NotificationAccepted,
  type NotificationDoc,
  type Reply,
  type SendCommand,
} from '@pushflow/shared';

/**
 * What the sender makes of one command, before anything is written: the notification's
 * accepted and dispatched (or failed) events, the nodes it goes to, and the document those
 * events fold into. Shared by the hot path (sender.ts) and the keyed path (keyed-sends.ts).
 */
export interface Planned {
  command: SendCommand;
  redelivered: boolean;
  notificationId: string;
  events: LedgerEvent[];
  nodes: string[];
  doc: NotificationDoc;
}

export const IDEMPOTENCY_PREFIX = 'idem:';

/** The notification a command makes (or, with an Idempotency-Key, proposes): see SendCommand.notificationId. */
export function notificationIdOf(command: SendCommand): string {
  return command.notificationId ?? command.correlationId;
}

export function commandIdOf(command: SendCommand): string {
  return command.idempotencyKey === undefined ? command.correlationId : `${IDEMPOTENCY_PREFIX}${command.idempotencyKey}`;
}

export function plan(
  command: SendCommand,
  redelivered: boolean,
  notificationId: string,
  routes: Map<string, string[]>,
  at: number,
): Planned {
  const nodes = routes.get(command.notification.recipientId) ?? [];
  const accepted = acceptedEvent(command, notificationId, at);
  const routed: LedgerEvent =
    nodes.length > 0
      ? { type: 'notification.dispatched', notificationId, at, nodeIds: nodes }
      : { type: 'notification.failed', notificationId, at, reason: 'RECIPIENT_OFFLINE' };
  const events = [accepted, routed];
  const doc = evolveAll(null, events)!;
  return { command, redelivered, notificationId, events, nodes, doc };
}

export function acceptedEvent(command: SendCommand, notificationId: string, at: number): LedgerEvent {
  const n = command.notification;
  const event: NotificationAccepted = {
    type: 'notification.accepted',
    notificationId,
    at,
    commandId: commandIdOf(command),
    recipientId: n.recipientId,
  };
  addContent(event, n);
  if (command.requestHash !== undefined) event.requestHash = command.requestHash;
  return event;
}

export function acceptedReply(command: SendCommand, notificationId: string, acceptedAt: number): { replyTo: string; reply: Reply } {
  return {
    replyTo: command.replyTo,
    reply: {
      correlationId: command.correlationId,
      ok: true,
      result: { notificationId, status: 'ACCEPTED', acceptedAt: new Date(acceptedAt).toISOString() },
    },
  };
}

export function deliveryRequest(p: Planned): DeliveryRequest {
  const n = p.command.notification;
  // acceptedAt goes in last so the fields keep the order every stream entry has had.
  const request = addContent({ notificationId: p.notificationId, recipientId: n.recipientId } as DeliveryRequest, n);
  request.acceptedAt = new Date(p.doc.acceptedAt!).toISOString();
  return request;
}
