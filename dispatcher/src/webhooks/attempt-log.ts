import { pipelined, type Keys, type RedisClient, type WebhookAttempt } from '@pushflow/shared';

/**
 * Each endpoint's recent attempts, in a capped Redis stream of its own (about
 * ATTEMPTS_KEPT, newest last): what `GET /webhooks/:id/attempts` and the dashboard show.
 * The attempts of one turn of the event loop go out in one pipeline. Losing a line of this
 * log (Redis down) loses no message: it is a view, not the state.
 */
export const ATTEMPTS_KEPT = 1000;

export interface AttemptLog {
  record(endpointId: string, attempt: WebhookAttempt): void;
}

export function createAttemptLog(deps: { redis: RedisClient; keys: Keys; onError(err: unknown): void }): AttemptLog {
  let queued: [string, WebhookAttempt][] = [];
  function flush(): void {
    const batch = queued;
    queued = [];
    pipelined(deps.redis, (pipe) => {
      for (const [endpointId, attempt] of batch) {
        pipe.xadd(deps.keys.webhookAttempts(endpointId), 'MAXLEN', '~', ATTEMPTS_KEPT, '*', 'data', JSON.stringify(attempt));
      }
    }).then((results) => {
      const failed = results.find(([err]) => err);
      if (failed) deps.onError(failed[0]);
    }, deps.onError);
  }
  return {
    record(endpointId, attempt) {
      if (queued.length === 0) setImmediate(flush);
      queued.push([endpointId, attempt]);
    },
  };
}

/** The newest `limit` attempts at an endpoint, newest first. */
export async function recentAttempts(redis: RedisClient, keys: Keys, endpointId: string, limit: number): Promise<WebhookAttempt[]> {
  const raw = (await redis.xrevrange(keys.webhookAttempts(endpointId), '+', '-', 'COUNT', limit)) as [string, string[]][];
  const out: WebhookAttempt[] = [];
  for (const [, fields] of raw) {
    const i = fields.indexOf('data');
    if (i < 0) continue;
    try {
      out.push(JSON.parse(fields[i + 1]!) as WebhookAttempt);
    } catch {
      // A line this version cannot read is left out of a view, not an error.
    }
  }
  return out;
}
