import { signConnectToken, type ConnectToken } from './connect-token.ts';
import { createRequester, type ConnectionOptions, type Requester } from './request.ts';
import type {
  Accepted,
  Notification,
  NotificationStatus,
  WebhookAttempt,
  WebhookCreate,
  WebhookCreated,
  WebhookEndpoint,
  WebhookRotated,
  WebhookUpdate,
} from './types.ts';

/** {@link createPushFlow}'s options: the gateway, and the connect secret to sign tokens here. */
export interface PushFlowOptions extends ConnectionOptions {
  /**
   * `PUSHFLOW_CONNECT_SECRET`. Given, {@link PushFlow.connectToken} signs tokens here (no
   * request); absent, it asks the gateway (`POST /connect-tokens`).
   */
  connectSecret?: string;
  /** `PUSHFLOW_CONNECT_SECRET_ID`, when the nodes have one: the `kid` of tokens signed here. */
  connectSecretId?: string;
  /** `PUSHFLOW_TOKEN_AUDIENCE`, when the nodes require one: the `aud` of tokens signed here. */
  audience?: string;
}

/** Options of a single call. */
export interface CallOptions {
  /** Aborts the call, retries included; it rejects with the signal's reason. */
  signal?: AbortSignal;
}

/** Options of `send` and `sendBatch`. */
export interface SendOptions extends CallOptions {
  /**
   * Requests with the same key and body make one notification (docs/api.md, "Retrying
   * safely"). Default: a random UUID per call, so the call's own retries never send twice;
   * give your own (e.g. your event's id) to be safe across calls and restarts too.
   */
  idempotencyKey?: string;
}

/** A PushFlow gateway, from a Node backend. Every method rejects with a {@link PushFlowError}. */
export interface PushFlow {
  /** `POST /notifications`: sends one notification. Retried on 503/504 under one `Idempotency-Key`. */
  send(notification: Notification, options?: SendOptions): Promise<Accepted>;
  /**
   * `POST /notifications/batch`: sends 1 to 1000 notifications in one request, all or none
   * refused; the answers are in the order given. Retried on 503/504 under one `Idempotency-Key`.
   */
  sendBatch(notifications: readonly Notification[], options?: SendOptions): Promise<Accepted[]>;
  /** `GET /notifications/:id/status`: what became of a notification. A 404 is a {@link PushFlowApiError} with code `not-found`. */
  status(notificationId: string, options?: CallOptions): Promise<NotificationStatus>;
  /**
   * A connect token for a recipient's client: signed here when the client has
   * `connectSecret` (see {@link signConnectToken}), else by the gateway (`POST /connect-tokens`).
   */
  connectToken(recipientId: string, options?: CallOptions & { ttlSeconds?: number }): Promise<ConnectToken>;
  /** `POST /webhooks`: adds an endpoint. The answer holds its signing secret, shown only here. */
  createWebhook(endpoint: WebhookCreate, options?: CallOptions): Promise<WebhookCreated>;
  /** `GET /webhooks`: every endpoint, oldest first, without secrets. */
  listWebhooks(options?: CallOptions): Promise<WebhookEndpoint[]>;
  /** `GET /webhooks/:id`. */
  getWebhook(id: string, options?: CallOptions): Promise<WebhookEndpoint>;
  /** `PATCH /webhooks/:id`: changes any of `url`, `events`, `enabled`, `description`. */
  updateWebhook(id: string, changes: WebhookUpdate, options?: CallOptions): Promise<WebhookEndpoint>;
  /** `DELETE /webhooks/:id`, with its stored messages and attempts. */
  deleteWebhook(id: string, options?: CallOptions): Promise<void>;
  /** `POST /webhooks/:id/rotate-secret`: a new secret; the old one signs too until `previousSecretExpiresAt`. Never retried. */
  rotateWebhookSecret(id: string, options?: CallOptions): Promise<WebhookRotated>;
  /** `POST /webhooks/:id/test`: queues a `webhook.test` message; its `webhook-id`. */
  testWebhook(id: string, options?: CallOptions): Promise<{ messageId: string }>;
  /** `GET /webhooks/:id/attempts`: the recent attempts, newest first (`limit` 1 to 1000, default 50). */
  webhookAttempts(id: string, options?: CallOptions & { limit?: number }): Promise<WebhookAttempt[]>;
  /** `POST /webhooks/:id/retry-failed`: sends the endpoint's failed messages again; how many. */
  retryFailedWebhooks(id: string, options?: CallOptions): Promise<{ messages: number }>;
  /** The request function every method uses: for API calls this client has no method for. */
  request: Requester;
}

/**
 * A client of one PushFlow gateway, with one API key.
 *
 * ```ts
 * const pushflow = createPushFlow({ url: 'http://localhost:3000', apiKey: process.env.PUSHFLOW_API_KEY! });
 * const { notificationId } = await pushflow.send({ recipientId: 'alice', title: 'Hi' });
 * ```
 */
export function createPushFlow(options: PushFlowOptions): PushFlow {
  const request = createRequester(options);
  const { connectSecret, connectSecretId, audience } = options;
  const webhook = (id: string, rest = '') => `/webhooks/${encodeURIComponent(id)}${rest}`;
  const body = async <T>(answer: Promise<{ body: T }>) => (await answer).body;
  const idempotency = (o: SendOptions | undefined) => ({ 'idempotency-key': o?.idempotencyKey ?? crypto.randomUUID() });

  return {
    request,
    send: (notification, o) =>
      body(
        request<Accepted>({
          method: 'POST',
          path: '/notifications',
          body: notification,
          headers: idempotency(o),
          retry: true,
          signal: o?.signal,
        }),
      ),
    sendBatch: async (notifications, o) =>
      (
        await body(
          request<{ notifications: Accepted[] }>({
            method: 'POST',
            path: '/notifications/batch',
            body: { notifications },
            headers: idempotency(o),
            retry: true,
            signal: o?.signal,
          }),
        )
      ).notifications,
    status: (id, o) =>
      body(request<NotificationStatus>({ method: 'GET', path: `/notifications/${encodeURIComponent(id)}/status`, signal: o?.signal })),
    connectToken: (recipientId, o) => {
      const ttl = o?.ttlSeconds === undefined ? {} : { ttlSeconds: o.ttlSeconds };
      if (connectSecret !== undefined) {
        return signConnectToken({ secret: connectSecret, recipientId, secretId: connectSecretId, audience, ...ttl });
      }
      // Signing touches no storage: asking again after a 503 or a timeout does nothing twice.
      return body(
        request<ConnectToken>({ method: 'POST', path: '/connect-tokens', body: { recipientId, ...ttl }, retry: true, signal: o?.signal }),
      );
    },
    // Not retried: each create makes an endpoint, so a retry after a 504 could make two.
    createWebhook: (endpoint, o) => body(request<WebhookCreated>({ method: 'POST', path: '/webhooks', body: endpoint, signal: o?.signal })),
    listWebhooks: async (o) =>
      (await body(request<{ webhooks: WebhookEndpoint[] }>({ method: 'GET', path: '/webhooks', signal: o?.signal }))).webhooks,
    getWebhook: (id, o) => body(request<WebhookEndpoint>({ method: 'GET', path: webhook(id), signal: o?.signal })),
    // The same changes applied twice leave the same endpoint.
    updateWebhook: (id, changes, o) =>
      body(request<WebhookEndpoint>({ method: 'PATCH', path: webhook(id), body: changes, retry: true, signal: o?.signal })),
    // Not retried: a retry of a delete that was done would answer 404.
    deleteWebhook: async (id, o) => {
      await request<undefined>({ method: 'DELETE', path: webhook(id), signal: o?.signal });
    },
    // Not retried: a second rotation would retire the secret the first one returned unseen.
    rotateWebhookSecret: (id, o) =>
      body(request<WebhookRotated>({ method: 'POST', path: webhook(id, '/rotate-secret'), signal: o?.signal })),
    testWebhook: (id, o) => body(request<{ messageId: string }>({ method: 'POST', path: webhook(id, '/test'), signal: o?.signal })),
    webhookAttempts: async (id, o) => {
      const query = o?.limit === undefined ? '' : `?limit=${encodeURIComponent(String(o.limit))}`;
      return (
        await body(request<{ attempts: WebhookAttempt[] }>({ method: 'GET', path: webhook(id, `/attempts${query}`), signal: o?.signal }))
      ).attempts;
    },
    // Sending the failed messages again is what a second call would do too: nothing new is failed.
    retryFailedWebhooks: (id, o) =>
      body(request<{ messages: number }>({ method: 'POST', path: webhook(id, '/retry-failed'), retry: true, signal: o?.signal })),
  };
}
