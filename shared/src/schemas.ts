import { Type, type Static } from '@sinclair/typebox';

/**
 * The notification a caller sends, shared by the HTTP API, the commands stream and the
 * WebSocket frame. Limits live here so every service enforces the same ones.
 */
export const RecipientId = Type.String({
  minLength: 1,
  maxLength: 128,
  pattern: '^[A-Za-z0-9_.@-]+$',
  description: 'The application\'s id for the user. Letters, digits and `_ . @ -`, at most 128.',
});

export const NotificationContent = Type.Object(
  {
    recipientId: RecipientId,
    title: Type.Optional(Type.String({ maxLength: 256 })),
    body: Type.Optional(Type.String({ maxLength: 4096 })),
    data: Type.Optional(
      // Keys starting with `$` or holding `.` could be read as MongoDB operators or paths.
      Type.Record(Type.String({ pattern: '^[^$.][^.]{0,127}$' }), Type.Unknown(), {
        additionalProperties: false,
        description: 'Free-form JSON object handed to the client as is. Keys: no `$` first, no `.`, at most 128 characters.',
      }),
    ),
  },
  { additionalProperties: false },
);
export type NotificationContent = Static<typeof NotificationContent>;

export const NotificationId = Type.String({ format: 'uuid', description: 'UUIDv7 given by PushFlow.' });

export const statuses = ['ACCEPTED', 'DISPATCHED', 'DELIVERED', 'ACKNOWLEDGED', 'FAILED'] as const;
export type Status = (typeof statuses)[number];

export const failureReasons = ['RECIPIENT_OFFLINE', 'NODE_LOST', 'BACKPRESSURE', 'EXPIRED'] as const;
export type FailureReason = (typeof failureReasons)[number];

export const StatusSchema = Type.Union(statuses.map((s) => Type.Literal(s)));
export const ReasonSchema = Type.Union(failureReasons.map((s) => Type.Literal(s)));
