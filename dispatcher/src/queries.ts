import { PoisonEntry, statusQueryCodec, type Keys, type Logger, type Redis, type StreamEntry } from '@pushflow/shared';
import { toStatusView } from './projection.ts';
import { execPipeline, queueReplies } from './replies.ts';
import { findByIds, type Notifications } from './store.ts';

/** Answers a batch of status queries with one MongoDB read and one pipeline. */
export function createStatusHandler(deps: { redis: Redis; keys: Keys; notifications: Notifications; log: Logger; group: string }) {
  return async function handleStatusBatch(entries: StreamEntry[]): Promise<void> {
    const queries = entries.map((e) => statusQueryCodec.decode(e.fields)).filter((q) => q !== undefined);
    // The consumer then handles the entries one by one and dead-letters the malformed ones.
    if (queries.length < entries.length) throw new PoisonEntry('malformed status queries');
    const docs = await findByIds(deps.notifications, [...new Set(queries.map((q) => q.notificationId))]);
    const pipe = deps.redis.pipeline();
    queueReplies(pipe, queries.map((q) => {
      const doc = docs.get(q.notificationId);
      const view = doc && toStatusView(doc);
      return {
        replyTo: q.replyTo,
        reply: view
          ? { correlationId: q.correlationId, ok: true as const, result: view }
          : { correlationId: q.correlationId, ok: false as const, error: { code: 'NOT_FOUND' as const, message: `no notification ${q.notificationId}` } },
      };
    }));
    pipe.xack(deps.keys.queries, deps.group, ...entries.map((e) => e.id));
    await execPipeline(pipe);
  };
}
