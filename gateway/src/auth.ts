import { hash, timingSafeEqual } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { HttpProblem } from './problems.ts';

/**
 * API keys as `Authorization: Bearer <key>`. Both sides are hashed first so the comparison
 * has a fixed length, and every configured key is compared each time, so neither the
 * length of a key nor which key matched shows in the response time.
 */
export function apiKeyHook(apiKeys: string[]) {
  if (apiKeys.length === 0) throw new Error('at least one API key is required');
  const digests = apiKeys.map(sha256);

  return async function checkApiKey(request: FastifyRequest, _reply: FastifyReply): Promise<void> {
    const given = bearerToken(request.headers.authorization);
    if (given === undefined) throw new HttpProblem('unauthorized', 'Send an API key as "Authorization: Bearer <key>"');
    const digest = sha256(given);
    checkedDigests.set(request, digest);
    let matched = 0;
    for (const d of digests) matched |= Number(timingSafeEqual(d, digest));
    if (!matched) throw new HttpProblem('unauthorized', 'The API key is not valid');
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
