import validatorCompilers from '@fastify/ajv-compiler';
import serializerCompilers from '@fastify/fast-json-stringify-compiler';
import type { FastifyError } from 'fastify';
import type { Logger } from '@pushflow/shared';
import { AJV_OPTIONS, type App } from './app.ts';
import { buildProblem, type HttpProblem, loggedProblem, PROBLEM_CONTENT_TYPE, problemHeaders } from './problems.ts';

/**
 * A route the uWS front answers itself (uws-front.ts): given a request read whole, it
 * returns undefined at once when the request is not its own, resolves to undefined when
 * the request is its own but not ordinary (the app answers it then, so every refusal is the
 * app's), and to the answer otherwise. It declines before it has done anything.
 */
export type FastRoute = (request: FrontRequest, startedAt: number) => Promise<Answer | undefined> | undefined;

/** What the front read of a request before its handler's first await (uWS frees the request then). */
export interface FrontRequest {
  method: string;
  path: string;
  url: string;
  /** Lower-case names; repeated headers joined with ", ". */
  headers: Record<string, string>;
  body: Buffer;
}

export interface Answer {
  status: number;
  /** An array is one header line per value (set-cookie). */
  headers: Record<string, string | string[]>;
  body: string;
}

export function jsonAnswer(status: number, body: string, headers: Record<string, string> = {}): Answer {
  return { status, headers: { ...headers, 'content-type': 'application/json; charset=utf-8' }, body };
}

/** What a fast route answers when its work failed: the problem, headers and log line the app's error handler gives the same error. */
export function problemAnswer(err: unknown, url: string, headers: Record<string, string>, log: Logger): Answer {
  const { slug, detail, extra } = loggedProblem(err as FastifyError | HttpProblem, log);
  const problem = buildProblem(slug, url, detail, extra?.errors);
  return {
    status: problem.status,
    headers: { ...headers, ...problemHeaders(slug, extra), 'content-type': `${PROBLEM_CONTENT_TYPE}; charset=utf-8` },
    body: JSON.stringify(problem),
  };
}

/**
 * Fastify's compilers for the app's shared schemas and settings: a fast route's validators
 * and serializers are compiled as the app's routes' are. Made once for all the fast routes.
 */
export type RouteCompilers = ReturnType<typeof routeCompilers>;
export function routeCompilers(app: App) {
  return {
    validator: validatorCompilers()(app.getSchemas() as Parameters<ReturnType<typeof validatorCompilers>>[0], AJV_OPTIONS),
    serializer: serializerCompilers()(app.getSchemas(), {}),
  };
}
