import { Type, type Static } from '@sinclair/typebox';

/**
 * The notification a caller sends, shared by the HTTP API, the commands stream and the
 * WebSocket frame. The gateway enforces the limits its operator configured; the other
 * services read the same shape with the ceilings below, so no configuration can make a
 * gateway accept what a dispatcher or a delivery node would refuse.
 */
export interface ContentLimits {
  recipientIdLength: number;
  titleLength: number;
  bodyLength: number;
  /** `data` as JSON, in UTF-8 bytes. */
  dataBytes: number;
  /** Levels of objects and arrays in `data`, `data` itself being the first. */
  dataDepth: number;
}

/** Hard upper bounds: a configured limit above one of these is a configuration error. */
export const CONTENT_CEILINGS: Readonly<ContentLimits> = {
  recipientIdLength: 256,
  titleLength: 1024,
  bodyLength: 65_536,
  dataBytes: 262_144,
  dataDepth: 32,
};

export const DEFAULT_CONTENT_LIMITS: Readonly<ContentLimits> = {
  recipientIdLength: 128,
  titleLength: 256,
  bodyLength: 4096,
  dataBytes: 8192,
  dataDepth: 8,
};

/** No `:` (a Redis key separator), no `$`, no spaces: a recipient id is safe in a key or a filter. */
export const RECIPIENT_ID_PATTERN = '^[A-Za-z0-9_.@-]+$';

/**
 * A `data` key: no `$` first, no `.`, so it can never read as a MongoDB operator or path, and
 * no control character (BSON refuses a NUL in a key; none belongs in a name).
 */
export const DATA_KEY_PATTERN = '^[^$.\\u0000-\\u001F][^.\\u0000-\\u001F]{0,127}$';

export function recipientIdSchema(maxLength: number) {
  return Type.String({
    minLength: 1,
    maxLength,
    pattern: RECIPIENT_ID_PATTERN,
    description: `The application's id for the user. Letters, digits and \`_ . @ -\`, at most ${maxLength}.`,
  });
}

const DataKey = { pattern: DATA_KEY_PATTERN, maxLength: 128 };

export function notificationContentSchema(limits: ContentLimits) {
  return Type.Object(
    {
      recipientId: recipientIdSchema(limits.recipientIdLength),
      title: Type.Optional(Type.String({ maxLength: limits.titleLength, description: `At most ${limits.titleLength} characters.` })),
      body: Type.Optional(Type.String({ maxLength: limits.bodyLength, description: `At most ${limits.bodyLength} characters.` })),
      data: Type.Optional(
        // propertyNames rather than Type.Record's patternProperties: @fastify/swagger turns
        // patternProperties into `additionalProperties: {}`, so /openapi.json lost the rule.
        // The rules below the top level, the depth and the size are checked by data-rules.ts:
        // a recursive schema would be validated by recursion, which input tens of thousands
        // of levels deep turns into a stack overflow.
        Type.Unsafe<Record<string, unknown>>(
          Type.Object(
            {},
            {
              additionalProperties: true,
              propertyNames: DataKey,
              description:
                'Free-form JSON object handed to the client as is. ' +
                `At most ${limits.dataBytes} bytes as JSON and ${limits.dataDepth} levels of objects and arrays deep. ` +
                'Keys, at every depth: no `$` first, no `.`, no control characters, not `__proto__`, `constructor` or `prototype`, at most 128 characters.',
            },
          ),
        ),
      ),
    },
    { additionalProperties: false },
  );
}

export const RecipientId = recipientIdSchema(CONTENT_CEILINGS.recipientIdLength);

export const NotificationContent = notificationContentSchema(CONTENT_CEILINGS);
export type NotificationContent = Static<typeof NotificationContent>;

/** What a notification may carry besides its recipient; every message with content names these alike. */
export type OptionalContent = Pick<NotificationContent, 'title' | 'body' | 'data'>;

/**
 * Copies onto `to` the title, body and data that `from` has, leaving the others absent
 * rather than undefined. Assigned one by one instead of spread in conditionally: this runs
 * for every notification, and conditional spreads take V8's slow path.
 */
export function addContent<T extends OptionalContent>(to: T, from: OptionalContent): T {
  if (from.title !== undefined) to.title = from.title;
  if (from.body !== undefined) to.body = from.body;
  if (from.data !== undefined) to.data = from.data;
  return to;
}

const UUID_PATTERN = '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$';

export const NotificationId = Type.String({
  format: 'uuid',
  // The format alone would also take a `urn:uuid:` prefix.
  pattern: UUID_PATTERN,
  maxLength: 36,
  description: 'UUIDv7 given by PushFlow.',
});

/**
 * The same check for stream messages, the pattern alone: the dispatcher checks every
 * command's id, and the format adds nothing the pattern does not check (2% of its profile
 * in a batch run). The HTTP API keeps NotificationId, whose format its OpenAPI shows.
 */
export const NotificationIdInMessage = Type.String({ pattern: UUID_PATTERN, maxLength: 36 });

export const statuses = ['ACCEPTED', 'DISPATCHED', 'DELIVERED', 'ACKNOWLEDGED', 'FAILED'] as const;
export type Status = (typeof statuses)[number];

export const failureReasons = ['RECIPIENT_OFFLINE', 'NODE_LOST', 'BACKPRESSURE', 'CONNECTION_LOST', 'EXPIRED'] as const;
export type FailureReason = (typeof failureReasons)[number];

export const StatusSchema = Type.Union(statuses.map((s) => Type.Literal(s)));
export const ReasonSchema = Type.Union(failureReasons.map((s) => Type.Literal(s)));
