/**
 * @pushflow/server: PushFlow from a Node backend. Send notifications, read their status,
 * mint connect tokens, manage webhook endpoints and verify the messages they receive.
 * docs/server.md has quick starts.
 */
export { createPushFlow, type CallOptions, type PushFlow, type PushFlowOptions, type SendOptions } from './client.ts';
export { DEFAULT_TOKEN_TTL_SECONDS, signConnectToken, type ConnectToken, type SignConnectTokenOptions } from './connect-token.ts';
export {
  problemTypes,
  PushFlowApiError,
  PushFlowConnectionError,
  PushFlowError,
  WebhookVerificationError,
  type Problem,
  type ProblemType,
  type PushFlowErrorCode,
} from './errors.ts';
export { createRequester, type ApiAnswer, type ApiRequest, type ConnectionOptions, type Requester, type RetryOptions } from './request.ts';
export type {
  Accepted,
  FailureReason,
  Notification,
  NotificationStatus,
  NotificationStatusName,
  WebhookAttempt,
  WebhookCreate,
  WebhookCreated,
  WebhookEndpoint,
  WebhookEvent,
  WebhookEventType,
  WebhookRotated,
  WebhookUpdate,
} from './types.ts';
export { verifyWebhook, type WebhookHeaders } from './verify-webhook.ts';
