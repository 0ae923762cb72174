import { Type, type Static } from '@sinclair/typebox';
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from '@pushflow/shared';

/**
 * RFC 9457 problem details. Every error the API returns has one of these `type`s, so a
 * client can branch on the type instead of parsing titles; the list is part of the contract.
 */
export const PROBLEM_CONTENT_TYPE = 'application/problem+json';

export const problemTypes = {
  'validation-failed': { status: 400, title: 'Request validation failed' },
  unauthorized: { status: 401, title: 'Missing or invalid API key' },
  'not-found': { status: 404, title: 'Not found' },
  'payload-too-large': { status: 413, title: 'Request body too large' },
  'unsupported-media-type': { status: 415, title: 'Unsupported media type' },
  'idempotency-key-reused': { status: 422, title: 'Idempotency key already used for a different request' },
  'notification-refused': { status: 422, title: 'The notification cannot be stored' },
  'webhook-url-refused': { status: 422, title: 'The webhook URL is not allowed' },
  'rate-limited': { status: 429, title: 'Too many requests for this API key' },
  'bad-request': { status: 400, title: 'Bad request' },
  internal: { status: 500, title: 'Internal error' },
  'dispatcher-unavailable': { status: 503, title: 'Dispatcher unavailable' },
  'not-ready': { status: 503, title: 'Not ready' },
  'dispatcher-timeout': { status: 504, title: 'Dispatcher did not answer in time' },
} as const;

export type ProblemSlug = keyof typeof problemTypes;

export const problemType = (slug: ProblemSlug) => `urn:pushflow:problem:${slug}`;

/** Seconds a client should wait before retrying a 503/504. */
export const RETRY_AFTER_SECONDS = 1;

export const Problem = Type.Object(
  {
    type: Type.String({ description: 'urn:pushflow:problem:<slug>, stable per error' }),
    title: Type.String(),
    status: Type.Integer(),
    detail: Type.Optional(Type.String()),
    instance: Type.Optional(Type.String()),
    errors: Type.Optional(
      Type.Array(Type.Object({ path: Type.String(), message: Type.String() }), {
        description: 'Present on validation-failed: one entry per invalid field',
      }),
    ),
  },
  { $id: 'Problem', title: 'Problem', description: 'RFC 9457 problem details' },
);
export type Problem = Static<typeof Problem>;

/** A route's response schema entry for an error status: problem+json content. */
export function problemResponse(description: string) {
  return { description, content: { [PROBLEM_CONTENT_TYPE]: { schema: Type.Ref(Problem) } } };
}

/** Throw this from a handler or hook to answer with a given problem. */
export class HttpProblem extends Error {
  readonly slug: ProblemSlug;
  readonly detail: string | undefined;
  readonly extra: { errors?: Problem['errors']; headers?: Record<string, string> };
  constructor(slug: ProblemSlug, detail?: string, extra: HttpProblem['extra'] = {}) {
    super(detail ?? problemTypes[slug].title);
    this.name = 'HttpProblem';
    this.slug = slug;
    this.detail = detail;
    this.extra = extra;
  }
}

export function buildProblem(slug: ProblemSlug, instance: string, detail?: string, errors?: Problem['errors']): Problem {
  const { status, title } = problemTypes[slug];
  const body: Problem = { type: problemType(slug), title, status, instance };
  if (detail !== undefined) body.detail = detail;
  if (errors !== undefined) body.errors = errors;
  return body;
}

export function sendProblem(
  reply: FastifyReply,
  request: FastifyRequest,
  slug: ProblemSlug,
  detail?: string,
  extra: HttpProblem['extra'] = {},
): FastifyReply {
  const body = buildProblem(slug, request.url, detail, extra.errors);
  for (const [name, value] of Object.entries(problemHeaders(slug, extra))) reply.header(name, value);
  return reply.code(body.status).type(PROBLEM_CONTENT_TYPE).send(body);
}

/** The headers a problem of this type goes out with, besides its content type. */
export function problemHeaders(slug: ProblemSlug, extra: HttpProblem['extra'] = {}): Record<string, string> {
  const headers: Record<string, string> = {};
  if (slug === 'dispatcher-unavailable' || slug === 'dispatcher-timeout' || slug === 'not-ready') {
    headers['retry-after'] = String(RETRY_AFTER_SECONDS);
  }
  if (slug === 'unauthorized') headers['www-authenticate'] = 'Bearer';
  return { ...headers, ...extra.headers };
}

/**
 * What a failed request answers, logged as the gateway logs failures: an internal error
 * with its stack at error, the dispatcher's trouble at warn, the caller's mistakes not at all.
 */
export function loggedProblem(
  err: FastifyError | HttpProblem,
  log: Pick<Logger, 'error' | 'warn'>,
): { slug: ProblemSlug; detail?: string; extra?: HttpProblem['extra'] } {
  const problem = problemFor(err);
  if (problem.slug === 'internal') log.error({ err }, 'request failed');
  else if (problem.slug.startsWith('dispatcher-')) log.warn({ problem: problem.slug, detail: problem.detail }, 'dispatcher problem');
  return problem;
}

interface AjvError {
  keyword?: string;
  instancePath?: string;
  message?: string;
  /** Set on the errors a `propertyNames` rule found in a key. */
  propertyName?: string;
  params?: { missingProperty?: string; additionalProperty?: string; propertyName?: string };
}

/** Fastify's own errors (validation, body parsing) mapped onto our problem types. */
export function problemFor(err: FastifyError | HttpProblem): { slug: ProblemSlug; detail?: string; extra?: HttpProblem['extra'] } {
  if (err instanceof HttpProblem) return { slug: err.slug, detail: err.detail, extra: err.extra };
  if (err.validation) {
    const where = err.validationContext ?? 'body';
    // A bad key yields the rule it broke and a generic "property name must be valid": keep the first.
    const all = err.validation as AjvError[];
    const specific = all.filter((e) => e.keyword !== 'propertyNames');
    const kept = specific.length > 0 ? specific : all;
    const errors = kept.map((e) => ({ path: `/${where}${e.instancePath ?? ''}${fieldSuffix(e)}`, message: inWords(e) }));
    return { slug: 'validation-failed', detail: unknownField(where, kept[0]) ?? err.message, extra: { errors } };
  }
  switch (err.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return { slug: 'payload-too-large', detail: err.message };
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return { slug: 'unsupported-media-type', detail: 'Send the body as application/json' };
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return { slug: 'validation-failed', detail: err.message, extra: { errors: [{ path: '/body', message: 'must not be empty' }] } };
  }
  const status = err.statusCode ?? 500;
  if (status === 404) return { slug: 'not-found', detail: err.message };
  if (status === 413) return { slug: 'payload-too-large', detail: err.message };
  if (status === 415) return { slug: 'unsupported-media-type', detail: err.message };
  if (status >= 400 && status < 500) return { slug: 'bad-request', detail: err.message };
  // A 5xx message may carry internals: it goes to the log, not to the caller.
  return { slug: 'internal' };
}

/** ajv's "must NOT have additional properties" does not say which: the path names it, so say so. */
function inWords(e: AjvError): string {
  return e.keyword === 'additionalProperties' ? 'is an unknown field' : (e.message ?? 'is invalid');
}

function unknownField(where: string, e: AjvError | undefined): string | undefined {
  const name = e?.params?.additionalProperty;
  if (e?.keyword !== 'additionalProperties' || name === undefined) return undefined;
  return `${where}${e.instancePath ?? ''} has an unknown field ${JSON.stringify(name)}`;
}

function fieldSuffix(e: AjvError): string {
  const name = e.params?.missingProperty ?? e.params?.additionalProperty ?? e.propertyName ?? e.params?.propertyName;
  return name === undefined ? '' : `/${pointerToken(name)}`;
}

/** A key as a JSON Pointer token (RFC 6901): a key may hold `/` or `~`. */
function pointerToken(key: string): string {
  return key.replaceAll('~', '~0').replaceAll('/', '~1');
}

/**
 * Why Fastify's JSON parser refused a body, which its own error does not say (app.ts calls
 * this only then): the syntax error and where it is, or the `__proto__` key (or
 * `constructor` holding `prototype`) it refuses so that no handler can be fooled by one.
 */
export function unparsableJson(text: string): HttpProblem {
  // secure-json-parse skips a byte order mark; so does this, or it would be the error.
  const json = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch (err) {
    const why = withPosition((err as Error).message, json.length);
    return new HttpProblem('validation-failed', `body is not valid JSON: ${why}`, {
      errors: [{ path: '/body', message: `is not valid JSON: ${why}` }],
    });
  }
  const poisoned = prototypeKey(value);
  if (poisoned === undefined) return new HttpProblem('validation-failed', 'body could not be read as JSON');
  const key = poisoned.key === '__proto__' ? '"__proto__"' : '"prototype" inside "constructor"';
  return new HttpProblem('validation-failed', `body has a forbidden key ${key}`, {
    errors: [{ path: `/body${poisoned.pointer}`, message: `is a forbidden key: ${key}` }],
  });
}

/**
 * V8 gives the position of most syntax errors, but not of a body that stops early (that is
 * its end), and for a stray token quotes the text around it, ending "is not valid JSON",
 * which the detail says already.
 */
function withPosition(message: string, length: number): string {
  if (message.startsWith('Unexpected end') && !/position \d+/.test(message)) return `${message} at position ${length}`;
  return message.replace(/, (.*) is not valid JSON$/s, ' in $1');
}

/** Where the first `__proto__` key, or `constructor` object holding `prototype`, is (a JSON Pointer). */
function prototypeKey(value: unknown): { pointer: string; key: '__proto__' | 'constructor' } | undefined {
  // A loop, not recursion: the body may be nested tens of thousands deep.
  const pending: [unknown, string][] = [[value, '']];
  for (let next = pending.pop(); next !== undefined; next = pending.pop()) {
    const [node, at] = next;
    if (node === null || typeof node !== 'object') continue;
    if (Object.hasOwn(node, '__proto__')) return { pointer: `${at}/__proto__`, key: '__proto__' };
    const ctor: unknown = Object.hasOwn(node, 'constructor') ? (node as { constructor: unknown }).constructor : undefined;
    if (ctor !== null && typeof ctor === 'object' && Object.hasOwn(ctor, 'prototype')) {
      return { pointer: `${at}/constructor/prototype`, key: 'constructor' };
    }
    const entries = Object.entries(node);
    // Reversed onto the stack, so keys are searched in the order the body gives them.
    for (let i = entries.length - 1; i >= 0; i--) {
      const [k, v] = entries[i] as [string, unknown];
      pending.push([v, `${at}/${pointerToken(k)}`]);
    }
  }
  return undefined;
}
