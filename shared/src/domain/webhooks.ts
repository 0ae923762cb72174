import { Type, type Static } from '@sinclair/typebox';
import { entryCodec } from '../streams/entries.ts';
import { DEFAULT_WEBHOOK_EVENTS, WEBHOOK_EVENT_TYPES, type WebhookEventType } from './webhook-events.ts';

/**
 * Outcome webhooks (docs/design.md, "Outcome webhooks"): what the API says about endpoints
 * and attempts, and the admin requests a gateway hands a dispatcher over Redis Streams,
 * which answers them from MongoDB. The dispatcher's relay sends the messages.
 */
export { DEFAULT_WEBHOOK_EVENTS, WEBHOOK_EVENT_TYPES, type WebhookEventType } from './webhook-events.ts';

/** The message `POST /webhooks/:id/test` sends; never a ledger event, so never subscribed to. */
export const WEBHOOK_TEST_TYPE = 'webhook.test';

export const WEBHOOK_URL_MAX_LENGTH = 2048;
export const WEBHOOK_DESCRIPTION_MAX_LENGTH = 512;

export const WebhookUrl = Type.String({
  minLength: 8,
  maxLength: WEBHOOK_URL_MAX_LENGTH,
  pattern: '^[Hh][Tt][Tt][Pp][Ss]?://[^\\s]+$',
  description:
    'Where the messages are POSTed: an http or https URL. Loopback, private and link-local addresses are refused unless the dispatcher runs with PUSHFLOW_WEBHOOK_ALLOW_PRIVATE=true.',
});
export const WebhookEvents = Type.Array(Type.Union(WEBHOOK_EVENT_TYPES.map((t) => Type.Literal(t))), {
  minItems: 1,
  maxItems: WEBHOOK_EVENT_TYPES.length,
  uniqueItems: true,
  description: `The events sent to the endpoint; by default ${DEFAULT_WEBHOOK_EVENTS.join(', ')}.`,
});
export const WebhookDescription = Type.String({ maxLength: WEBHOOK_DESCRIPTION_MAX_LENGTH });
/** Endpoint ids are UUIDv7s the gateway makes, so a create read twice makes one endpoint. */
export const WebhookId = Type.String({ pattern: '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$' });

export const WebhookCreate = Type.Object(
  { url: WebhookUrl, events: Type.Optional(WebhookEvents), description: Type.Optional(WebhookDescription) },
  { additionalProperties: false },
);
export type WebhookCreate = Static<typeof WebhookCreate>;

export const WebhookUpdate = Type.Object(
  {
    url: Type.Optional(WebhookUrl),
    events: Type.Optional(WebhookEvents),
    enabled: Type.Optional(Type.Boolean()),
    description: Type.Optional(WebhookDescription),
  },
  { additionalProperties: false, minProperties: 1 },
);
export type WebhookUpdate = Static<typeof WebhookUpdate>;

export const WebhookEndpoint = Type.Object({
  id: Type.String(),
  url: Type.String(),
  events: Type.Array(Type.String()),
  enabled: Type.Boolean(),
  description: Type.Optional(Type.String()),
  createdAt: Type.String({ format: 'date-time' }),
  updatedAt: Type.String({ format: 'date-time' }),
});
export type WebhookEndpoint = Static<typeof WebhookEndpoint>;

export const WebhookCreated = Type.Composite([
  WebhookEndpoint,
  Type.Object({ secret: Type.String({ description: 'whsec_ and base64: the signing secret. Shown only in this answer.' }) }),
]);
export type WebhookCreated = Static<typeof WebhookCreated>;

export const WebhookList = Type.Object({ webhooks: Type.Array(WebhookEndpoint) });
export type WebhookList = Static<typeof WebhookList>;

export const WebhookRotated = Type.Object({
  id: Type.String(),
  secret: Type.String({ description: 'The new signing secret. Shown only in this answer.' }),
  previousSecretExpiresAt: Type.String({ format: 'date-time', description: 'Until then messages carry a signature with each secret' }),
});
export type WebhookRotated = Static<typeof WebhookRotated>;

export const WebhookTestSent = Type.Object({ messageId: Type.String({ description: 'The webhook-id of the test message' }) });
export type WebhookTestSent = Static<typeof WebhookTestSent>;

export const WebhookRetried = Type.Object({ messages: Type.Integer({ minimum: 0, description: 'Failed messages queued again' }) });
export type WebhookRetried = Static<typeof WebhookRetried>;

export const WebhookAttempt = Type.Object({
  messageId: Type.String(),
  event: Type.String(),
  notificationId: Type.Optional(Type.String()),
  attempt: Type.Integer({ minimum: 1, description: 'Which attempt at this message, from 1' }),
  outcome: Type.Union([Type.Literal('succeeded'), Type.Literal('retrying'), Type.Literal('failed')], {
    description: 'failed: the last attempt of the schedule failed; the message is kept and POST .../retry-failed sends it again',
  }),
  status: Type.Optional(Type.Integer({ description: 'The HTTP status the endpoint answered' })),
  error: Type.Optional(Type.String({ description: 'Why no HTTP status came (timeout, refused address, connection error)' })),
  latencyMs: Type.Number({ minimum: 0 }),
  at: Type.String({ format: 'date-time' }),
  nextRetryAt: Type.Optional(Type.String({ format: 'date-time' })),
});
export type WebhookAttempt = Static<typeof WebhookAttempt>;

export const WebhookAttempts = Type.Object({ attempts: Type.Array(WebhookAttempt, { description: 'Newest first' }) });
export type WebhookAttempts = Static<typeof WebhookAttempts>;

/** One endpoint on the dashboard: its recent success rate, backlog and failures. */
export const WebhookStats = Type.Object({
  endpoints: Type.Array(
    Type.Object({
      id: Type.String(),
      url: Type.String(),
      enabled: Type.Boolean(),
      events: Type.Array(Type.String()),
      /** Of the recent attempts (the attempts list): succeeded ones over all. */
      recentAttempts: Type.Integer({ minimum: 0 }),
      recentSucceeded: Type.Integer({ minimum: 0 }),
      /** Messages stored for a retry (not counting those a relay holds in memory for their first attempt). */
      backlog: Type.Integer({ minimum: 0 }),
      failed: Type.Integer({ minimum: 0 }),
      oldestPendingAt: Type.Optional(Type.String({ format: 'date-time' })),
      lastFailures: Type.Array(WebhookAttempt),
    }),
  ),
});
export type WebhookStats = Static<typeof WebhookStats>;

const envelope = {
  type: Type.Literal('webhook.admin'),
  correlationId: Type.String({ minLength: 1, maxLength: 64 }),
  replyTo: Type.String({ minLength: 1 }),
  sentAt: Type.Integer({ minimum: 0 }),
};
const byId = { id: WebhookId };

/** An admin request: one operation on the endpoints, answered by any dispatcher. */
export const WebhookAdminRequest = Type.Union([
  Type.Object({ ...envelope, op: Type.Literal('create'), ...byId, endpoint: WebhookCreate }),
  Type.Object({ ...envelope, op: Type.Literal('list') }),
  Type.Object({ ...envelope, op: Type.Literal('get'), ...byId }),
  Type.Object({ ...envelope, op: Type.Literal('update'), ...byId, changes: WebhookUpdate }),
  Type.Object({ ...envelope, op: Type.Literal('delete'), ...byId }),
  Type.Object({ ...envelope, op: Type.Literal('rotate-secret'), ...byId }),
  Type.Object({ ...envelope, op: Type.Literal('test'), ...byId }),
  Type.Object({ ...envelope, op: Type.Literal('attempts'), ...byId, limit: Type.Integer({ minimum: 1, maximum: 1000 }) }),
  Type.Object({ ...envelope, op: Type.Literal('retry-failed'), ...byId }),
  Type.Object({ ...envelope, op: Type.Literal('stats') }),
]);
export type WebhookAdminRequest = Static<typeof WebhookAdminRequest>;
export type WebhookAdminOp = WebhookAdminRequest['op'];
export const webhookAdminCodec = entryCodec(WebhookAdminRequest);

/** The body of every message: Standard Webhooks' `{type, timestamp, data}`. */
export interface WebhookPayload {
  type: WebhookEventType | typeof WEBHOOK_TEST_TYPE;
  timestamp: string;
  data: {
    notificationId?: string;
    recipientId?: string;
    status?: string;
    reason?: string;
    nodeId?: string;
    at: string;
  };
}
