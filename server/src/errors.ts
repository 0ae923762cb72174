/**
 * The errors @pushflow/server throws. Every one is a {@link PushFlowError} with a stable
 * `code`, so a caller can branch on `err.code` (or on the subclass) instead of parsing messages.
 */

/** The problem+json `type` of each error the gateway answers with (docs/api.md, "Errors and close codes"). */
export const problemTypes = {
  validationFailed: 'urn:pushflow:problem:validation-failed',
  badRequest: 'urn:pushflow:problem:bad-request',
  unauthorized: 'urn:pushflow:problem:unauthorized',
  notFound: 'urn:pushflow:problem:not-found',
  payloadTooLarge: 'urn:pushflow:problem:payload-too-large',
  unsupportedMediaType: 'urn:pushflow:problem:unsupported-media-type',
  idempotencyKeyReused: 'urn:pushflow:problem:idempotency-key-reused',
  notificationRefused: 'urn:pushflow:problem:notification-refused',
  webhookUrlRefused: 'urn:pushflow:problem:webhook-url-refused',
  rateLimited: 'urn:pushflow:problem:rate-limited',
  internal: 'urn:pushflow:problem:internal',
  dispatcherUnavailable: 'urn:pushflow:problem:dispatcher-unavailable',
  notReady: 'urn:pushflow:problem:not-ready',
  dispatcherTimeout: 'urn:pushflow:problem:dispatcher-timeout',
} as const;

/** One of the problem types PushFlow documents. */
export type ProblemType = (typeof problemTypes)[keyof typeof problemTypes];

/** An RFC 9457 problem details body, as the gateway sends it. */
export interface Problem {
  /** `urn:pushflow:problem:<slug>`, stable per error: see {@link problemTypes}. */
  type: string;
  title?: string;
  status?: number;
  /** What is wrong, in words, naming the field the way `errors[].path` does. */
  detail?: string;
  instance?: string;
  /** On `validation-failed`: one entry per invalid field, `path` a JSON Pointer such as `/body/title`. */
  errors?: { path: string; message: string }[];
}

/** Every stable `code` a {@link PushFlowError} may carry. */
export type PushFlowErrorCode =
  /** The gateway could not be reached (refused, reset, DNS). */
  | 'unreachable'
  /** No answer within the `timeoutMs` option. */
  | 'timeout'
  /** A 2xx answer that is not the JSON the API sends: the URL is probably not a PushFlow gateway. */
  | 'bad-response'
  /** A webhook message without its `webhook-id`, `webhook-timestamp` or `webhook-signature` header. */
  | 'webhook-headers-missing'
  /** A webhook message whose timestamp is unreadable or more than 5 minutes from now. */
  | 'webhook-timestamp-invalid'
  /** A webhook message whose signature no secret given matches. */
  | 'webhook-signature-invalid'
  /** An API answer: the slug of its problem type (`rate-limited`, `not-found`...) or `http-<status>`, see {@link PushFlowApiError}. */
  | (string & {});

/** The base class of every error this library throws on purpose. */
export class PushFlowError extends Error {
  /** Stable: branch on this, never on `message`. */
  readonly code: PushFlowErrorCode;
  constructor(code: PushFlowErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'PushFlowError';
    this.code = code;
  }
}

const PROBLEM_PREFIX = 'urn:pushflow:problem:';

/**
 * The gateway answered with an error status. `type` is the problem+json `type` (absent when
 * the answer was not problem+json, e.g. from a proxy in front of the gateway), `code` its slug
 * (`validation-failed`, `rate-limited`...) or `http-<status>` without one.
 */
export class PushFlowApiError extends PushFlowError {
  /** The HTTP status. */
  readonly status: number;
  /** The problem+json `type`, e.g. `urn:pushflow:problem:rate-limited`; compare with {@link problemTypes}. */
  readonly type: string | undefined;
  /** The whole problem body, when the answer was one. */
  readonly problem: Problem | undefined;
  /** Seconds the gateway asked to wait (`Retry-After`), on 429, 503 and 504. */
  readonly retryAfterSeconds: number | undefined;
  /** How many requests were made, retries included. */
  readonly attempts: number;
  constructor(status: number, problem: Problem | undefined, what: string, retryAfterSeconds: number | undefined, attempts: number) {
    const type = problem?.type;
    const code = type?.startsWith(PROBLEM_PREFIX) ? type.slice(PROBLEM_PREFIX.length) : `http-${status}`;
    const tries = attempts > 1 ? ` (after ${attempts} attempts)` : '';
    super(code, `${what} answered ${status}${said(problem)}${tries}`);
    this.name = 'PushFlowApiError';
    this.status = status;
    this.type = type;
    this.problem = problem;
    this.retryAfterSeconds = retryAfterSeconds;
    this.attempts = attempts;
  }
}

/** The gateway could not be reached (`code` `unreachable`) or did not answer in time (`timeout`). */
export class PushFlowConnectionError extends PushFlowError {
  /** How many requests were made, retries included. */
  readonly attempts: number;
  constructor(code: 'unreachable' | 'timeout', message: string, attempts: number, cause: unknown) {
    super(code, attempts > 1 ? `${message} (after ${attempts} attempts)` : message, { cause });
    this.name = 'PushFlowConnectionError';
    this.attempts = attempts;
  }
}

/** A webhook message failed {@link verifyWebhook}: do not act on it, answer 400 or 401. */
export class WebhookVerificationError extends PushFlowError {
  constructor(code: 'webhook-headers-missing' | 'webhook-timestamp-invalid' | 'webhook-signature-invalid', message: string) {
    super(code, message);
    this.name = 'WebhookVerificationError';
  }
}

/** The detail, which names the field, or the title with the field errors. */
function said(problem: Problem | undefined): string {
  if (problem === undefined) return '';
  if (problem.detail) return `: ${problem.detail}`;
  const fields = (problem.errors ?? []).map((e) => `${e.path} ${e.message}`).join('; ');
  return `${problem.title ? `: ${problem.title}` : ''}${fields ? ` (${fields})` : ''}`;
}
