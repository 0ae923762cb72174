// The library's source, not its package: the CLI runs from this repository, where
// @pushflow/server is not built (its package exports dist/).
import { createRequester, PushFlowApiError, PushFlowConnectionError, PushFlowError } from '../../server/src/index.ts';
import { CliError, EXIT, usageError } from './errors.ts';
import { warn } from './output.ts';

/** The development key of compose.yaml, `make dev` and the tests. */
export const DEV_API_KEY = 'dev-only-api-key-change-me';
export const DEFAULT_URL = 'http://localhost:3000';
/** A request that hangs longer than this is treated as PushFlow being unavailable. */
const REQUEST_TIMEOUT_MS = 15_000;

export interface ApiTarget {
  url: string;
  apiKey: string;
}

const LOOPBACK = /^(localhost|127(\.\d{1,3}){3}|\[::1\])$/i;

/**
 * --url / PUSHFLOW_URL and --api-key / PUSHFLOW_API_KEY / PUSHFLOW_API_KEY_FILE. Without any
 * key the development key is used, but only for a gateway on this machine (and with a
 * warning): sending the repository's well-known key to a remote host would at best fail,
 * at worst work against a deployment left on development secrets.
 */
export async function apiTarget(values: { url?: string; 'api-key'?: string }, env = process.env): Promise<ApiTarget> {
  const raw = values.url ?? (env.PUSHFLOW_URL || DEFAULT_URL);
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw usageError(`--url / PUSHFLOW_URL: not a URL: ${JSON.stringify(raw)}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw usageError(`--url / PUSHFLOW_URL must be http(s): ${JSON.stringify(raw)}`);
  let apiKey = values['api-key'] ?? (env.PUSHFLOW_API_KEY || undefined);
  if (env.PUSHFLOW_API_KEY_FILE && values['api-key'] === undefined) {
    try {
      // Loaded only when needed: @pushflow/shared takes most of a second to import.
      const { readSecretFiles } = await import('@pushflow/shared');
      apiKey = readSecretFiles(['PUSHFLOW_API_KEY'], env).env.PUSHFLOW_API_KEY;
    } catch (err) {
      throw usageError((err as Error).message);
    }
  }
  if (apiKey === undefined) {
    if (!LOOPBACK.test(url.hostname)) {
      throw usageError(`no API key for ${url.origin}: set PUSHFLOW_API_KEY (or PUSHFLOW_API_KEY_FILE, or --api-key)`);
    }
    warn(`no API key given (PUSHFLOW_API_KEY or --api-key): using the development key ${DEV_API_KEY}`);
    apiKey = DEV_API_KEY;
  }
  return { url: url.href.replace(/\/+$/, ''), apiKey };
}

export interface ApiAnswer<T> {
  status: number;
  body: T;
}

/**
 * One request to the API, through @pushflow/server's requester (server/src/request.ts), the
 * library a Node backend would use. Resolves with 2xx answers only; everything else becomes
 * a CliError carrying the exit code it means (EXIT) and, for problem+json answers, the
 * problem's `type` as its code. Nothing is retried: a script decides that from the exit code.
 */
export async function request<T>(
  target: ApiTarget,
  method: 'GET' | 'POST' | 'PATCH' | 'DELETE',
  path: string,
  opts: { body?: unknown; headers?: Record<string, string> } = {},
): Promise<ApiAnswer<T>> {
  const send = createRequester({ url: target.url, apiKey: target.apiKey, timeoutMs: REQUEST_TIMEOUT_MS, retry: { retries: 0 } });
  try {
    const { status, body } = await send<T>({
      method,
      path,
      ...(opts.body !== undefined && { body: opts.body }),
      ...(opts.headers && { headers: opts.headers }),
    });
    return { status, body };
  } catch (err) {
    throw cliErrorOf(err, target);
  }
}

/** What the API answers for each notification it accepted. */
export interface Accepted {
  notificationId: string;
  status: string;
  acceptedAt: string;
}

/** POST /notifications/batch: the notifications, accepted in the order given, or a CliError. */
export async function sendBatch(target: ApiTarget, notifications: unknown[], idempotencyKey?: string): Promise<Accepted[]> {
  const { body } = await request<{ notifications: Accepted[] }>(target, 'POST', '/notifications/batch', {
    body: { notifications },
    ...(idempotencyKey !== undefined && { headers: { 'idempotency-key': idempotencyKey } }),
  });
  return body.notifications;
}

/** The library's typed errors as the CLI's: an exit code and a stable code (docs/cli.md). */
function cliErrorOf(err: unknown, target: ApiTarget): unknown {
  if (err instanceof PushFlowApiError) {
    const { status, type, problem } = err;
    const details: Record<string, unknown> = {
      status,
      ...(type && { type }),
      ...(problem?.errors !== undefined && { errors: problem.errors }),
    };
    const exitCode = status === 404 ? EXIT.notFound : status >= 500 || status < 400 ? EXIT.unavailable : EXIT.refused;
    const fallback = status === 404 ? 'NOT_FOUND' : exitCode === EXIT.unavailable ? 'SERVER_ERROR' : 'REFUSED';
    return new CliError(exitCode, type ?? fallback, err.message, details);
  }
  if (err instanceof PushFlowConnectionError) {
    const cause = err.cause as (Error & { cause?: { code?: string; message?: string } }) | undefined;
    const reason =
      err.code === 'timeout'
        ? `no answer within ${REQUEST_TIMEOUT_MS / 1000} s`
        : (cause?.cause?.code ?? cause?.cause?.message ?? cause?.message);
    return new CliError(EXIT.unavailable, 'UNREACHABLE', `cannot reach PushFlow at ${target.url} (${reason})`);
  }
  if (err instanceof PushFlowError && err.code === 'bad-response') {
    return new CliError(EXIT.unavailable, 'BAD_RESPONSE', `${err.message.replace('is the URL', 'is --url')}`);
  }
  return err;
}
