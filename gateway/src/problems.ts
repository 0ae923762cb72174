import { Type, type Static } from '@sinclair/typebox';
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';

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
  constructor(
    readonly slug: ProblemSlug,
    readonly detail?: string,
    readonly extra: { errors?: Problem['errors']; headers?: Record<string, string> } = {},
  ) {
    super(detail ?? problemTypes[slug].title);
    this.name = 'HttpProblem';
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
  if (slug === 'dispatcher-unavailable' || slug === 'dispatcher-timeout' || slug === 'not-ready') {
    reply.header('retry-after', String(RETRY_AFTER_SECONDS));
  }
  if (slug === 'unauthorized') reply.header('www-authenticate', 'Bearer');
  for (const [name, value] of Object.entries(extra.headers ?? {})) reply.header(name, value);
  return reply.code(body.status).type(PROBLEM_CONTENT_TYPE).send(body);
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
    const errors = (specific.length > 0 ? specific : all).map((e) => ({
      path: `/${where}${e.instancePath ?? ''}${fieldSuffix(e)}`,
      message: e.message ?? 'is invalid',
    }));
    return { slug: 'validation-failed', detail: err.message, extra: { errors } };
  }
  switch (err.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return { slug: 'payload-too-large', detail: err.message };
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return { slug: 'unsupported-media-type', detail: 'Send the body as application/json' };
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return { slug: 'validation-failed', detail: err.message, extra: { errors: [{ path: '/body', message: 'must not be empty' }] } };
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      // Also what a `__proto__` key, or `constructor` holding `prototype`, anywhere in the body gives.
      return {
        slug: 'validation-failed',
        detail: err.message,
        extra: { errors: [{ path: '/body', message: 'must be valid JSON without "__proto__" or "constructor.prototype" keys' }] },
      };
  }
  const status = err.statusCode ?? 500;
  if (status === 404) return { slug: 'not-found', detail: err.message };
  if (status === 413) return { slug: 'payload-too-large', detail: err.message };
  if (status === 415) return { slug: 'unsupported-media-type', detail: err.message };
  if (status >= 400 && status < 500) return { slug: 'bad-request', detail: err.message };
  // A 5xx message may carry internals: it goes to the log, not to the caller.
  return { slug: 'internal' };
}

function fieldSuffix(e: AjvError): string {
  const name = e.params?.missingProperty ?? e.params?.additionalProperty ?? e.propertyName ?? e.params?.propertyName;
  // A JSON Pointer token (RFC 6901): a key may hold `/` or `~`.
  return name === undefined ? '' : `/${name.replaceAll('~', '~0').replaceAll('/', '~1')}`;
}
