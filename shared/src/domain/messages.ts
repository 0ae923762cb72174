import { Type, type Static } from '@sinclair/typebox';
import { entryCodec } from '../streams/entries.ts';
import { checkData } from './data-rules.ts';
import { CONTENT_CEILINGS, NotificationContent, NotificationIdInMessage, ReasonSchema, StatusSchema } from './schemas.ts';

/**
 * Request/reply between gateways and dispatchers over Redis Streams. A gateway appends a
 * command (or query) naming its own reply stream and a correlation id, and waits for the
 * reply with that id on its stream.
 */
const envelope = {
  correlationId: Type.String({ minLength: 1, maxLength: 64 }),
  replyTo: Type.String({ minLength: 1 }),
  sentAt: Type.Integer({ minimum: 0 }),
};

export const SendCommand = Type.Object({
  type: Type.Literal('notification.send'),
  ...envelope,
  notification: NotificationContent,
  /**
   * The id the gateway gave the notification when it took the request. A command read
   * twice (redelivered after a crash) then makes the same notification both times, with
   * nothing remembered between the reads. With an Idempotency-Key it is only a proposal:
   * the notification the key made first wins. Older gateways leave it out; their commands
   * use the correlation id, which they also made unique per command (sender.ts).
   */
  notificationId: Type.Optional(NotificationIdInMessage),
  /**
   * The caller's Idempotency-Key, already scoped to its API key and hashed by the gateway:
   * commands carrying the same one make a single notification.
   */
  idempotencyKey: Type.Optional(Type.String({ minLength: 1, maxLength: 128 })),
  /** Hash of the request body, so a key reused for another request can be refused. */
  requestHash: Type.Optional(Type.String({ minLength: 1, maxLength: 128 })),
});
export type SendCommand = Static<typeof SendCommand>;

export const StatusQuery = Type.Object({
  type: Type.Literal('notification.status'),
  ...envelope,
  notificationId: Type.String({ minLength: 1, maxLength: 64 }),
});
export type StatusQuery = Static<typeof StatusQuery>;

export const Accepted = Type.Object({
  notificationId: Type.String(),
  status: Type.Literal('ACCEPTED'),
  acceptedAt: Type.String({ format: 'date-time' }),
});
export type Accepted = Static<typeof Accepted>;

export const HistoryEntry = Type.Object({
  status: StatusSchema,
  at: Type.String({ format: 'date-time' }),
  nodeId: Type.Optional(Type.String()),
  reason: Type.Optional(ReasonSchema),
});

export const NotificationStatus = Type.Object({
  notificationId: Type.String(),
  recipientId: Type.String(),
  status: StatusSchema,
  reason: Type.Optional(ReasonSchema),
  acceptedAt: Type.String({ format: 'date-time' }),
  updatedAt: Type.String({ format: 'date-time' }),
  history: Type.Array(HistoryEntry),
});
export type NotificationStatus = Static<typeof NotificationStatus>;

export const replyErrorCodes = [
  'NOT_FOUND',
  'INVALID_COMMAND',
  'INTERNAL',
  'IDEMPOTENCY_KEY_REUSED',
  'NOTIFICATION_REFUSED',
  /** A webhook URL the dispatcher will not send to (an address the SSRF guard refuses, or not http/https). */
  'WEBHOOK_URL_REFUSED',
] as const;

export const Reply = Type.Union([
  Type.Object({ correlationId: Type.String(), ok: Type.Literal(true), result: Type.Unknown() }),
  Type.Object({
    correlationId: Type.String(),
    ok: Type.Literal(false),
    error: Type.Object({
      code: Type.Union(replyErrorCodes.map((c) => Type.Literal(c))),
      message: Type.String(),
    }),
  }),
]);
export type Reply = Static<typeof Reply>;

// The key rules for `data` at every depth (see data-rules.ts), held to on the stream too: a
// command no gateway would have let through is malformed, whoever wrote it.
const dataCeilings = { maxBytes: CONTENT_CEILINGS.dataBytes, maxDepth: CONTENT_CEILINGS.dataDepth };
export const sendCommandCodec = entryCodec(
  SendCommand,
  (c) => c.notification.data === undefined || checkData(c.notification.data, dataCeilings) === undefined,
);
export const statusQueryCodec = entryCodec(StatusQuery);
export const replyCodec = entryCodec(Reply);

/**
 * What a dispatcher puts on a delivery node's partition stream: everything the node needs
 * to build the frame, so delivery never reads MongoDB.
 */
export const DeliveryRequest = Type.Object({
  notificationId: Type.String({ minLength: 1 }),
  recipientId: Type.String({ minLength: 1 }),
  title: Type.Optional(Type.String()),
  body: Type.Optional(Type.String()),
  data: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
  acceptedAt: Type.String({ format: 'date-time' }),
});
export type DeliveryRequest = Static<typeof DeliveryRequest>;
export const deliveryRequestCodec = entryCodec(DeliveryRequest);

/** The frame a client receives over its WebSocket. */
export interface NotificationFrame {
  type: 'notification';
  notificationId: string;
  title?: string;
  body?: string;
  data?: Record<string, unknown>;
  acceptedAt: string;
}
