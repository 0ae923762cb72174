/**
 * The events a webhook endpoint can subscribe to, with no dependency: the CLI imports this
 * module alone (`@pushflow/shared/webhook-events`), as the package's index takes most of a
 * second to load.
 */
export const WEBHOOK_EVENT_TYPES = [
  'notification.accepted',
  'notification.dispatched',
  'notification.delivered',
  'notification.acknowledged',
  'notification.failed',
] as const;
export type WebhookEventType = (typeof WEBHOOK_EVENT_TYPES)[number];

/** What an endpoint created without `events` hears: the outcomes, not the steps on the way. */
export const DEFAULT_WEBHOOK_EVENTS: readonly WebhookEventType[] = [
  'notification.delivered',
  'notification.acknowledged',
  'notification.failed',
];
