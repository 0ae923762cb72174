import { hash, timingSafeEqual } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { HttpProblem } from './problems.ts';

/**
 * API keys as `Authorization: Bearer <key>`. Both sides are hashed first so the comparison
 * has a fixed length, and every configured key is compared each time, so neither the
 * length of a key nor which key matched shows in the response time.
 */
export function apiKeyHook(apiKeys: string[]) {
  const check = apiKeyCheck(apiKeys);
  return async function checkApiKey(request: FastifyRequest, _reply: FastifyReply): Promise<void> {
    const outcome = check(request.headers.authorization);
    if (outcome instanceof HttpProblem) throw outcome;
    checkedDigests.set(request, outcome);
  };
}

/**
 * The check itself, given the Authorization header: the key's digest when it is one of
 * `apiKeys`, or the 401 to answer. The hook and the uWS front's fast paths (fast-route.ts) share it.
 */
export type ApiKeyCheck = (authorization: string | undefined) => Buffer | HttpProblem;
export function apiKeyCheck(apiKeys: string[]): ApiKeyCheck {
  if (apiKeys.length === 0) throw new Error('at least one API key is required');
  const digests = apiKeys.map(sha256);
  return (authorization) => {
    const given = bearerToken(authorization);
    if (given === undefined) return new HttpProblem('unauthorized', 'Send an API key as "Authorization: Bearer <key>"');
    const digest = sha256(given);
    let matched = 0;
    for (const d of digests) matched |= Number(timingSafeEqual(d, digest));
    return matched ? digest : new HttpProblem('unauthorized', 'The API key is not valid');
  };
}

/**
 * Names the API key a request was authenticated with without holding the key itself:
 * stable when PUSHFLOW_API_KEYS is reordered. Only meaningful after the hook passed.
 */
export function apiKeyFingerprint(request: FastifyRequest): string {
  return (checkedDigests.get(request) ?? sha256(bearerToken(request.headers.authorization) ?? '')).toString('hex');
}

/** The digest the hook computed, so the rate limit and idempotency scope do not hash the key again. */
const checkedDigests = new WeakMap<FastifyRequest, Buffer>();

function bearerToken(header: string | undefined): string | undefined {
  const match = header === undefined ? null : /^Bearer +(\S+) *$/i.exec(header);
  return match?.[1];
}

function sha256(value: string): Buffer {
  // One call instead of a Hash object's three: this runs for every request.
  return hash('sha256', value, 'buffer');
}
