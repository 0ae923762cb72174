import type { FastifyReply, FastifyRequest } from 'fastify';
import type { RedisClient } from '@pushflow/shared';
import { HttpProblem } from './problems.ts';

/**
 * A per-API-key budget of notifications kept in Redis, so every gateway replica draws on
 * the same one. GCRA (the generic cell rate algorithm): one value per key, the theoretical
 * arrival time of the next notification; a request of `cost` notifications (1, or a
 * batch's size) is let through when it would push that time no more than `burst`
 * intervals ahead of now, and then takes all of them or none. The clock is Redis's, so
 * replicas' clocks never disagree.
 */
const GCRA = `
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local tat = tonumber(redis.call('GET', KEYS[1])) or now
if tat < now then tat = now end
local newTat = tat + interval * cost
local allowAt = newTat - interval * burst
if now < allowAt then
  -- Nothing taken; what is left says how large a batch would pass now.
  return {0, math.max(0, math.floor((now - tat) / interval) + burst), allowAt - now, tat - now}
end
redis.call('SET', KEYS[1], string.format('%.0f', newTat), 'PX', math.ceil((newTat - now) / 1000))
return {1, math.floor((now - allowAt) / interval), 0, newTat - now}
`;

const COMMAND = 'pushflowRateLimit';

export interface RateLimitSettings {
  /** Notifications per second per key; 0 turns the limiter off. */
  perSecond: number;
  /** Notifications a key may send at once after being idle. */
  burst: number;
}

export interface RateDecision {
  allowed: boolean;
  limit: number;
  remaining: number;
  /** When refused: whole seconds until the request would pass, at least 1. */
  retryAfterSeconds: number;
  /** Whole seconds until the full burst is available again. */
  resetSeconds: number;
}

export interface RateLimiter {
  /** Takes `cost` notifications (1 by default) from the budget of `subject` (an API key fingerprint, never the key), or none. */
  take(subject: string, cost?: number): Promise<RateDecision>;
}

type GcraCall = (key: string, intervalUs: number, burst: number, cost: number) => Promise<[number, number, number, number]>;

export function rateLimitKey(prefix: string, subject: string): string {
  return `${prefix}ratelimit:${subject}`;
}

/** undefined when the settings turn limiting off. */
export function createRateLimiter(redis: RedisClient, prefix: string, { perSecond, burst }: RateLimitSettings): RateLimiter | undefined {
  if (perSecond === 0) return undefined;
  // defineCommand sends EVALSHA and falls back to EVAL when Redis lost the script (a restart).
  redis.defineCommand(COMMAND, { numberOfKeys: 1, lua: GCRA });
  const gcra = (redis as unknown as Record<typeof COMMAND, GcraCall>)[COMMAND].bind(redis);
  const intervalUs = Math.max(1, Math.round(1_000_000 / perSecond));
  return {
    async take(subject, cost = 1) {
      const [allowed, remaining, retryUs, resetUs] = await gcra(rateLimitKey(prefix, subject), intervalUs, burst, cost);
      return {
        allowed: allowed === 1,
        limit: burst,
        remaining: Math.max(0, remaining),
        retryAfterSeconds: Math.max(1, Math.ceil(retryUs / 1_000_000)),
        resetSeconds: Math.ceil(resetUs / 1_000_000),
      };
    },
  };
}

/**
 * A preHandler: it runs after validation, so a request that was going to be refused
 * anyway costs no Redis round trip and no budget. `costOf` says how many notifications the
 * request sends (a batch spends one per notification).
 */
export function rateLimitHook(
  limiter: RateLimiter,
  subjectOf: (request: FastifyRequest) => string,
  onRefused?: () => void,
  costOf: (request: FastifyRequest) => number = () => 1,
) {
  return async function limitRate(request: FastifyRequest, reply: FastifyReply): Promise<void> {
    const cost = costOf(request);
    let decision: RateDecision;
    try {
      decision = await limiter.take(subjectOf(request), cost);
    } catch (err) {
      // Redis is away: the request could not have been queued either, so say so the same way.
      request.log.warn({ err: (err as Error).message }, 'rate limiter unavailable');
      throw new HttpProblem('dispatcher-unavailable', 'The notification queue is unavailable; retry later');
    }
    reply.header('ratelimit-limit', String(decision.limit));
    reply.header('ratelimit-remaining', String(decision.remaining));
    reply.header('ratelimit-reset', String(decision.allowed ? decision.resetSeconds : decision.retryAfterSeconds));
    if (!decision.allowed) {
      onRefused?.();
      const over = cost === 1 ? 'is over its request rate' : `has fewer than ${cost} notifications left in its rate`;
      throw new HttpProblem('rate-limited', `This API key ${over}; retry after ${decision.retryAfterSeconds} s`, {
        headers: { 'retry-after': String(decision.retryAfterSeconds) },
      });
    }
  };
}
