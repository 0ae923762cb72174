/**
 * What the gateway's API takes and answers (docs/api.md), written out here rather than
 * imported from @pushflow/shared: a published package cannot depend on a private workspace.
 * server/test/stack.test.ts checks the answers of a real gateway against them.
 */

/** A notification to send: `POST /notifications`. */
export interface Notification {
  /** 1 to 128 letters, digits and `_ . @ -`. */
  recipientId: string;
  /** At most 256 characters. */
  title?: string;
  /** At most 4096 characters. */
  body?: string;
  /** A JSON object handed to the client as is: at most 8192 bytes as JSON, 8 levels deep; no key starting with `$` or holding `.`. */
  data?: Record<string, unknown>;
}

/** The gateway took a notification: it has an id and is on its way. */
export interface Accepted {
  notificationId: string;
  status: 'ACCEPTED';
  /** ISO 8601. */
  acceptedAt: string;
}

/** Where a notification is in its life. */
export type NotificationStatusName = 'ACCEPTED' | 'DISPATCHED' | 'DELIVERED' | 'ACKNOWLEDGED' | 'FAILED';
/** Why a notification is `FAILED`. */
export type FailureReason = 'RECIPIENT_OFFLINE' | 'NODE_LOST' | 'BACKPRESSURE' | 'CONNECTION_LOST' | 'EXPIRED';

/** `GET /notifications/:id/status`: what became of a notification, step by step. */
export interface NotificationStatus {
  notificationId: string;
  recipientId: string;
  status: NotificationStatusName;
  reason?: FailureReason;
  acceptedAt: string;
  updatedAt: string;
  history: { status: NotificationStatusName; at: string; nodeId?: string; reason?: FailureReason }[];
}

/** What a webhook endpoint may be sent. */
export type WebhookEventType =
  | 'notification.accepted'
  | 'notification.dispatched'
  | 'notification.delivered'
  | 'notification.acknowledged'
  | 'notification.failed';

/** `POST /webhooks`. */
export interface WebhookCreate {
  /** An http or https URL; the dispatcher refuses private and loopback addresses unless told otherwise. */
  url: string;
  /** Default: `notification.delivered`, `notification.acknowledged`, `notification.failed`. */
  events?: WebhookEventType[];
  description?: string;
}

/** `PATCH /webhooks/:id`: any of these, at least one. */
export interface WebhookUpdate {
  url?: string;
  events?: WebhookEventType[];
  /** A disabled endpoint is sent nothing, and events meanwhile are not kept for it. */
  enabled?: boolean;
  description?: string;
}

/** A webhook endpoint, without its secret. */
export interface WebhookEndpoint {
  id: string;
  url: string;
  events: WebhookEventType[];
  enabled: boolean;
  description?: string;
  createdAt: string;
  updatedAt: string;
}

/** A new endpoint, with its signing secret: the only time the API shows it. */
export interface WebhookCreated extends WebhookEndpoint {
  /** `whsec_` and base64: what {@link verifyWebhook} checks the messages with. Keep it. */
  secret: string;
}

/** A new signing secret; the previous one goes on signing beside it until `previousSecretExpiresAt`. */
export interface WebhookRotated {
  id: string;
  secret: string;
  previousSecretExpiresAt: string;
}

/** One attempt at sending a message to an endpoint. */
export interface WebhookAttempt {
  messageId: string;
  event: string;
  notificationId?: string;
  /** Which attempt at this message, from 1. */
  attempt: number;
  /** `failed`: the retry schedule is spent; `retryFailedWebhooks` sends it again. */
  outcome: 'succeeded' | 'retrying' | 'failed';
  /** The HTTP status the endpoint answered. */
  status?: number;
  /** Why no HTTP status came (timeout, refused address, connection error). */
  error?: string;
  latencyMs: number;
  at: string;
  nextRetryAt?: string;
}

/** The body of a webhook message, as {@link verifyWebhook} returns it (Standard Webhooks' `{type, timestamp, data}`). */
export interface WebhookEvent {
  type: WebhookEventType | 'webhook.test';
  timestamp: string;
  data: {
    notificationId?: string;
    recipientId?: string;
    status?: NotificationStatusName;
    reason?: FailureReason;
    nodeId?: string;
    at: string;
  };
}
