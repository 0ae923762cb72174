import { pipelined, type Keys, type RedisClient } from '@pushflow/shared';

/**
 * Presence-based routing: a recipient is reachable on every live delivery node whose
 * presence field counts at least one open connection. A node is live while its
 * heartbeat in `nodes` is younger than `nodeTtlMs`; a crashed node's stale presence
 * therefore stops attracting deliveries by itself.
 *
 * Reads Redis on every call. The dispatcher routes with its in-memory route table
 * (route-table.ts), which calls this only for recipients it sees on no live node, and for
 * everything while it is out of sync.
 */
export async function routeRecipients(
  redis: RedisClient,
  keys: Keys,
  recipientIds: string[],
  nodeTtlMs: number,
  now = Date.now(),
): Promise<Map<string, string[]>> {
  const unique = [...new Set(recipientIds)];
  const results = await pipelined(redis, (pipe) => {
    pipe.zrangebyscore(keys.nodes, now - nodeTtlMs, '+inf');
    for (const r of unique) pipe.hgetall(keys.presence(r));
  });
  for (const [err] of results) if (err) throw err;
  const live = new Set(results[0]?.[1] as string[]);
  const routes = new Map<string, string[]>();
  unique.forEach((r, i) => {
    const presence = (results[i + 1]?.[1] ?? {}) as Record<string, string>;
    const nodes = Object.entries(presence)
      .filter(([node, count]) => Number(count) > 0 && live.has(node))
      .map(([node]) => node)
      .sort();
    routes.set(r, nodes);
  });
  return routes;
}
