import { PushFlowApiError, PushFlowConnectionError, PushFlowError, type Problem } from './errors.ts';

/** How failed requests are retried: only 503, 504, timeouts and network errors, and only requests safe to repeat. */
export interface RetryOptions {
  /** Retries after the first attempt; 0 turns retrying off. Default 2. */
  retries?: number;
  /** The wait before the first retry, doubled for each next one (with jitter). Default 250 ms. */
  minDelayMs?: number;
  /** No wait is longer, not even one the gateway's `Retry-After` asks for. Default 5000 ms. */
  maxDelayMs?: number;
}

/** Where the gateway is and how to talk to it. */
export interface ConnectionOptions {
  /** The gateway's base URL, e.g. `http://localhost:3000`. */
  url: string;
  /** One of the gateway's `PUSHFLOW_API_KEYS`, sent as `Authorization: Bearer <key>`. */
  apiKey: string;
  /** An attempt with no answer after this long fails with code `timeout` (and may be retried). Default 10000 ms. */
  timeoutMs?: number;
  /** See {@link RetryOptions}. */
  retry?: RetryOptions;
  /** A `fetch` to use instead of the global one (a proxy agent, instrumentation). */
  fetch?: typeof fetch;
}

/** One call to the API, for {@link Requester}. */
export interface ApiRequest {
  method: 'GET' | 'POST' | 'PATCH' | 'DELETE';
  /** From the gateway's root, with its leading slash: `/notifications`. */
  path: string;
  /** Sent as JSON. */
  body?: unknown;
  headers?: Record<string, string>;
  /**
   * Whether a 503, 504, timeout or network error may be answered by sending it again: true by
   * default for GET, false for the rest. Set it only for a request that does nothing twice
   * (a POST carrying an `Idempotency-Key`, a PATCH).
   */
  retry?: boolean;
  /** Aborts the request and any retry still to come; the promise rejects with the signal's reason. */
  signal?: AbortSignal;
}

/** A 2xx answer. */
export interface ApiAnswer<T> {
  status: number;
  headers: Headers;
  /** The parsed JSON body; undefined for 204. */
  body: T;
}

/**
 * Makes one call to the API, retrying it as {@link RetryOptions} says. Resolves with 2xx
 * answers only; rejects with a {@link PushFlowApiError} (any other status),
 * a {@link PushFlowConnectionError} (unreachable, timeout) or a {@link PushFlowError} with code
 * `bad-response`.
 */
export type Requester = <T>(request: ApiRequest) => Promise<ApiAnswer<T>>;

const DEFAULT_TIMEOUT_MS = 10_000;
const DEFAULT_RETRY: Required<RetryOptions> = { retries: 2, minDelayMs: 250, maxDelayMs: 5000 };
/** What the gateway answers when it cannot take a request now but may in a moment. */
const RETRIED_STATUSES = new Set([503, 504]);

/** A {@link Requester} for one gateway and API key: what every method of the client goes through. */
export function createRequester(options: ConnectionOptions): Requester {
  const base = baseUrl(options.url);
  if (typeof options.apiKey !== 'string' || options.apiKey === '') throw new TypeError('@pushflow/server: apiKey is required');
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const retry = { ...DEFAULT_RETRY, ...options.retry };
  const doFetch = options.fetch ?? globalThis.fetch;

  return async function request<T>(req: ApiRequest): Promise<ApiAnswer<T>> {
    const what = `${req.method} ${req.path}`;
    const retries = (req.retry ?? req.method === 'GET') ? retry.retries : 0;
    const init: RequestInit = {
      method: req.method,
      headers: {
        authorization: `Bearer ${options.apiKey}`,
        accept: 'application/json, application/problem+json',
        ...(req.body !== undefined && { 'content-type': 'application/json' }),
        ...req.headers,
      },
      body: req.body === undefined ? undefined : JSON.stringify(req.body),
    };
    for (let attempt = 1; ; attempt++) {
      const outcome = await once<T>(doFetch, `${base}${req.path}`, init, timeoutMs, req.signal, what, attempt);
      if (!('failure' in outcome)) return outcome;
      if (attempt > retries || !outcome.retryable) throw outcome.failure;
      await sleep(delayBefore(attempt, outcome.retryAfterSeconds, retry), req.signal);
    }
  };
}

type Attempt<T> = ApiAnswer<T> | { failure: PushFlowError; retryable: boolean; retryAfterSeconds?: number };

async function once<T>(
  doFetch: typeof fetch,
  url: string,
  init: RequestInit,
  timeoutMs: number,
  callerSignal: AbortSignal | undefined,
  what: string,
  attempt: number,
): Promise<Attempt<T>> {
  const timeout = AbortSignal.timeout(timeoutMs);
  const signal = callerSignal ? AbortSignal.any([callerSignal, timeout]) : timeout;
  let res: Response;
  let text: string;
  try {
    res = await doFetch(url, { ...init, signal });
    text = await res.text();
  } catch (err) {
    // The caller's own abort is no failure of PushFlow's: it ends the call as the caller asked.
    if (callerSignal?.aborted) throw callerSignal.reason;
    if (timeout.aborted) {
      return {
        failure: new PushFlowConnectionError('timeout', `${what}: no answer within ${timeoutMs} ms`, attempt, err),
        retryable: true,
      };
    }
    return {
      failure: new PushFlowConnectionError('unreachable', `${what}: cannot reach ${url} (${reason(err)})`, attempt, err),
      retryable: true,
    };
  }
  const body = parseJson(text);
  if (res.ok) {
    // 204 No Content (DELETE) is the one answer without a body.
    if (body === undefined && res.status !== 204) {
      return {
        failure: new PushFlowError('bad-response', `${what} answered ${res.status} without a JSON body: is the URL a PushFlow gateway?`),
        retryable: false,
      };
    }
    return { status: res.status, headers: res.headers, body: body as T };
  }
  const retryAfterSeconds = retryAfter(res.headers.get('retry-after'));
  return {
    failure: new PushFlowApiError(res.status, asProblem(body), what, retryAfterSeconds, attempt),
    retryable: RETRIED_STATUSES.has(res.status),
    retryAfterSeconds,
  };
}

/** Exponential from minDelayMs with jitter, never shorter than Retry-After asks, never over maxDelayMs. */
function delayBefore(retry: number, retryAfterSeconds: number | undefined, opts: Required<RetryOptions>): number {
  const exponential = opts.minDelayMs * 2 ** (retry - 1);
  // Jitter spreads the retries of many callers that failed together over half the wait.
  const jittered = exponential * (0.5 + Math.random() / 2);
  return Math.min(opts.maxDelayMs, Math.max(jittered, (retryAfterSeconds ?? 0) * 1000));
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

function baseUrl(raw: string): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new TypeError(`@pushflow/server: url is not a URL: ${JSON.stringify(raw)}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new TypeError(`@pushflow/server: url must be http(s): ${raw}`);
  return url.href.replace(/\/+$/, '');
}

function parseJson(text: string): unknown {
  if (text === '') return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function asProblem(body: unknown): Problem | undefined {
  if (body === null || typeof body !== 'object' || typeof (body as Problem).type !== 'string') return undefined;
  return body as Problem;
}

/** Retry-After in whole seconds (the gateway never sends the HTTP-date form). */
function retryAfter(header: string | null): number | undefined {
  if (header === null || !/^\d+$/.test(header.trim())) return undefined;
  return Number(header.trim());
}

/** Why fetch failed, in a word: undici hides the system error in `cause`. */
function reason(err: unknown): string {
  const e = err as Error & { cause?: { code?: string; message?: string } };
  return e.cause?.code ?? e.cause?.message ?? e.message;
}
