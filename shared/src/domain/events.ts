import { Type, type Static } from '@sinclair/typebox';
import { entryCodec } from '../streams/entries.ts';
import { RecipientId, ReasonSchema } from './schemas.ts';

/**
 * Ledger events, past tense: each one is a fact about a notification. Every entry carries
 * `type`, `notificationId` and `at` (epoch ms).
 */
const base = {
  notificationId: Type.String({ minLength: 1 }),
  at: Type.Integer({ minimum: 0 }),
};

export const NotificationAccepted = Type.Object({
  type: Type.Literal('notification.accepted'),
  ...base,
  commandId: Type.String(),
  recipientId: RecipientId,
  title: Type.Optional(Type.String()),
  body: Type.Optional(Type.String()),
  data: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
  /** Set when the caller sent an Idempotency-Key: what a retry with that key must match. */
  requestHash: Type.Optional(Type.String()),
});

export const NotificationDispatched = Type.Object({
  type: Type.Literal('notification.dispatched'),
  ...base,
  nodeIds: Type.Array(Type.String(), { minItems: 1 }),
});

export const NotificationDelivered = Type.Object({
  type: Type.Literal('notification.delivered'),
  ...base,
  nodeId: Type.String(),
  connections: Type.Integer({ minimum: 1 }),
});

export const NotificationFailed = Type.Object({
  type: Type.Literal('notification.failed'),
  ...base,
  reason: ReasonSchema,
  nodeId: Type.Optional(Type.String()),
});

export const NotificationAcknowledged = Type.Object({
  type: Type.Literal('notification.acknowledged'),
  ...base,
  nodeId: Type.Optional(Type.String()),
});

export const LedgerEvent = Type.Union([
  NotificationAccepted,
  NotificationDispatched,
  NotificationDelivered,
  NotificationFailed,
  NotificationAcknowledged,
]);

export type NotificationAccepted = Static<typeof NotificationAccepted>;
export type NotificationDispatched = Static<typeof NotificationDispatched>;
export type NotificationDelivered = Static<typeof NotificationDelivered>;
export type NotificationFailed = Static<typeof NotificationFailed>;
export type NotificationAcknowledged = Static<typeof NotificationAcknowledged>;
export type LedgerEvent = Static<typeof LedgerEvent>;

export const eventCodec = entryCodec(LedgerEvent);
