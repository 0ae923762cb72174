import { groupBy, pipelined, type Keys, type RedisClient, type WebhookAttempt } from '@pushflow/shared';

/**
 * Each endpoint's recent attempts, in a capped Redis stream of its own (newest last): what
 * `GET /webhooks/:id/attempts` and the dashboard show. An endpoint's attempts of one turn of
 * the event loop are one entry (`attempts`, a JSON array, oldest first), as the ledger's
 * events are: one XADD per endpoint and turn, not one per attempt, which was a Redis write
 * per webhook message. Entries from before held one attempt each (`data`); both are read.
 * Losing a line of this log (Redis down) loses no message: it is a view, not the state.
 */
/** Entries kept per endpoint (MAXLEN ~), so at least as many attempts. */
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
      for (const [endpointId, attempts] of groupBy(batch, ([id]) => id)) {
        const list = JSON.stringify(attempts.map(([, a]) => a));
        pipe.xadd(deps.keys.webhookAttempts(endpointId), 'MAXLEN', '~', ATTEMPTS_KEPT, '*', 'attempts', list);
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
  // Each entry holds at least one attempt, so `limit` entries hold enough.
  const raw = (await redis.xrevrange(keys.webhookAttempts(endpointId), '+', '-', 'COUNT', limit)) as [string, string[]][];
  const out: WebhookAttempt[] = [];
  for (const [, fields] of raw) {
    for (let i = 0; i + 1 < fields.length && out.length < limit; i += 2) {
      try {
        if (fields[i] === 'attempts') out.push(...(JSON.parse(fields[i + 1]!) as WebhookAttempt[]).reverse().slice(0, limit - out.length));
        else if (fields[i] === 'data') out.push(JSON.parse(fields[i + 1]!) as WebhookAttempt);
      } catch {
        // A line this version cannot read is left out of a view, not an error.
      }
    }
  }
  return out;
}
