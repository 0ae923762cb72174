import {
  addContent,
  evolveAll,
  type DeliveryRequest,
  type LedgerEvent,
  type NotificationAccepted,
  type NotificationDispatched,
  type NotificationDoc,
  type NotificationFailed,
  type Reply,
  type SendCommand,
} from '@pushflow/shared';

/**
 * What the sender makes of one command, before anything is written: the notification's
 * accepted and dispatched (or failed) events and the nodes it goes to. Shared by the hot
 * path (sender.ts) and the keyed path (keyed-sends.ts), which alone needs the document
 * (docOf): the hot path folds nothing.
 */
export interface Planned {
  command: SendCommand;
  redelivered: boolean;
  notificationId: string;
  accepted: NotificationAccepted;
  routed: NotificationDispatched | NotificationFailed;
  /** `[accepted, routed]`, as the ledger gets them. */
  events: LedgerEvent[];
  nodes: string[];
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
  const routed: NotificationDispatched | NotificationFailed =
    nodes.length > 0
      ? { type: 'notification.dispatched', notificationId, at, nodeIds: nodes }
      : { type: 'notification.failed', notificationId, at, reason: 'RECIPIENT_OFFLINE' };
  return { command, redelivered, notificationId, accepted, routed, events: [accepted, routed], nodes };
}

/** The document a planned notification's events fold into. */
export function docOf(p: Planned): NotificationDoc {
  return evolveAll(null, p.events)!;
}

export function acceptedEvent(command: SendCommand, notificationId: string, at: number): NotificationAccepted {
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
  request.acceptedAt = new Date(p.accepted.at).toISOString();
  return request;
}
