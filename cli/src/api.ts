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
 * One request to the API. Resolves with 2xx answers only; everything else becomes a
 * CliError carrying the exit code it means (EXIT) and, for problem+json answers, the
 * problem's `type` as its code.
 */
export async function request<T>(
  target: ApiTarget,
  method: 'GET' | 'POST',
  path: string,
  opts: { body?: unknown; headers?: Record<string, string> } = {},
): Promise<ApiAnswer<T>> {
  const url = `${target.url}${path}`;
  let res: Response;
  try {
    res = await fetch(url, {
      method,
      headers: {
        authorization: `Bearer ${target.apiKey}`,
        accept: 'application/json, application/problem+json',
        ...(opts.body !== undefined && { 'content-type': 'application/json' }),
        ...opts.headers,
      },
      body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    });
  } catch (err) {
    throw unreachable(target, err);
  }
  let text: string;
  try {
    text = await res.text();
  } catch (err) {
    throw unreachable(target, err);
  }
  let body: unknown;
  try {
    body = text === '' ? undefined : JSON.parse(text);
  } catch {
    body = undefined;
  }
  if (res.ok) {
    if (body === undefined) {
      throw new CliError(
        EXIT.unavailable,
        'BAD_RESPONSE',
        `${method} ${url} answered ${res.status} without a JSON body: is --url a PushFlow gateway?`,
      );
    }
    return { status: res.status, body: body as T };
  }
  throw apiError(res.status, body, `${method} ${path}`);
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

function unreachable(target: ApiTarget, err: unknown): CliError {
  const e = err as Error & { cause?: { code?: string; message?: string } };
  const reason =
    e.name === 'TimeoutError' ? `no answer within ${REQUEST_TIMEOUT_MS / 1000} s` : (e.cause?.code ?? e.cause?.message ?? e.message);
  return new CliError(EXIT.unavailable, 'UNREACHABLE', `cannot reach PushFlow at ${target.url} (${reason})`);
}

interface Problem {
  type?: unknown;
  title?: unknown;
  detail?: unknown;
  errors?: unknown;
}

function apiError(status: number, body: unknown, what: string): CliError {
  const problem: Problem = body !== null && typeof body === 'object' ? (body as Problem) : {};
  const type = typeof problem.type === 'string' ? problem.type : undefined;
  const details: Record<string, unknown> = {
    status,
    ...(type && { type }),
    ...(problem.errors !== undefined && { errors: problem.errors }),
  };
  const message = `${what} answered ${status}${said(problem)}`;
  const exitCode = status === 404 ? EXIT.notFound : status >= 500 || status < 400 ? EXIT.unavailable : EXIT.refused;
  const fallback = status === 404 ? 'NOT_FOUND' : exitCode === EXIT.unavailable ? 'SERVER_ERROR' : 'REFUSED';
  return new CliError(exitCode, type ?? fallback, message, details);
}

/**
 * What went wrong, said once: the detail, which names the field, or else the title (with
 * the field errors, if any). The title is the type in words, and the code printed says it.
 */
function said(problem: Problem): string {
  if (typeof problem.detail === 'string' && problem.detail !== '') return `: ${problem.detail}`;
  const title = typeof problem.title === 'string' && problem.title !== '' ? `: ${problem.title}` : '';
  return `${title}${fieldErrors(problem.errors)}`;
}

/** Field errors, for a problem whose detail does not say them. */
function fieldErrors(errors: unknown): string {
  if (!Array.isArray(errors) || errors.length === 0) return '';
  const parts = errors
    .slice(0, 5)
    .map((e: { path?: unknown; message?: unknown }) => `${String(e.path ?? '')} ${String(e.message ?? '')}`.trim());
  return ` (${parts.join('; ')}${errors.length > 5 ? '; ...' : ''})`;
}
