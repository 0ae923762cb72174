import { randomUUID } from 'node:crypto';
import {
  compareIds,
  deliveryRequestCodec,
  groups,
  parseGroups,
  queueLedgerBatches,
  scanKeys,
  writeInOrder,
  type Keys,
  type LedgerCounter,
  type LedgerEvent,
  type Logger,
  type RedisClient,
} from '@pushflow/shared';

/**
 * The reaper settles the partitions of dead delivery nodes (docs/design.md, "Failure
 * semantics"): a node whose heartbeat is older than `nodeLostMs` will never deliver what
 * is waiting for it, so each of those notifications gets `notification.failed` NODE_LOST
 * for that node, and the node's stream, presence fields and heartbeat are removed.
 *
 * Several dispatchers run it at once: a short lock per node lets one of them reap it, and
 * the heartbeat is read again under the lock, so a node reaped a moment ago (gone from
 * `nodes`) or one that came back (fresh heartbeat) is left alone. Each step touches one
 * key, so keys may live on different cluster slots; the steps that could hurt a node that
 * restarts mid-reap are conditional (see removeStream, removeNode).
 */
export interface ReapDeps {
  redis: RedisClient;
  keys: Keys;
  /** A node whose last heartbeat is older than this is dead. */
  nodeLostMs: number;
  log: Logger;
  now?: number;
  /** How long one reaper may hold a node before another may take over. */
  lockMs?: number;
  /** XRANGE page and pipeline size. */
  batchSize?: number;
  /** Told the NODE_LOST events once they are written. */
  ledger?: LedgerCounter;
}

export interface Reaped {
  nodeId: string;
  notificationIds: string[];
}

const DELETE_LOCK_IF_OURS = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`;

// The heartbeat is compared in the same step as the removal: a node that beat again
// since we judged it dead keeps its place.
const REMOVE_NODE_IF_STALE = `
local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
if score and tonumber(score) < tonumber(ARGV[2]) then return redis.call('ZREM', KEYS[1], ARGV[1]) end
return 0`;

// The stream is dropped only if nothing was added after the entries we read; an entry
// that arrived since then is someone else's to handle (the node, back alive, or the next
// pass), so then only the settled entries are deleted.
const DELETE_STREAM_IF_UNCHANGED = `
local top = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)
if #top == 0 or top[1][1] == ARGV[1] then redis.call('DEL', KEYS[1]) return 1 end
return 0`;

export async function reapDeadNodes(deps: ReapDeps): Promise<Reaped[]> {
  const { redis, keys, nodeLostMs } = deps;
  const now = deps.now ?? Date.now();
  const deadline = now - nodeLostMs;
  const dead = await redis.zrangebyscore(keys.nodes, '-inf', `(${deadline}`);
  const reaped: Reaped[] = [];
  for (const nodeId of dead) {
    const result = await withNodeLock(deps, nodeId, async () => {
      const score = await redis.zscore(keys.nodes, nodeId);
      // Reaped by someone else meanwhile, or alive again.
      if (score === null || Number(score) >= deadline) return undefined;
      return reapNode(deps, nodeId, deadline);
    });
    if (result) reaped.push(result);
  }
  return reaped;
}

async function withNodeLock<T>(deps: ReapDeps, nodeId: string, work: () => Promise<T>): Promise<T | undefined> {
  const lock = lockKey(deps.keys, nodeId);
  const token = randomUUID();
  const taken = await deps.redis.set(lock, token, 'PX', deps.lockMs ?? 30_000, 'NX');
  if (taken !== 'OK') return undefined;
  try {
    return await work();
  } finally {
    await deps.redis.eval(DELETE_LOCK_IF_OURS, 1, lock, token);
  }
}

/** `<prefix>reaper:<nodeId>`; Keys has no name for it, so the prefix is taken from `nodes`. */
export function lockKey(keys: Keys, nodeId: string): string {
  return `${keys.nodes.slice(0, -'nodes'.length)}reaper:${nodeId}`;
}

async function reapNode(deps: ReapDeps, nodeId: string, deadline: number): Promise<Reaped> {
  const { redis, keys, log } = deps;
  const stream = keys.deliveries(nodeId);
  const { entryIds, notificationIds, top } = await unsettledEntries(deps, stream);

  const at = deps.now ?? Date.now();
  const batch = deps.batchSize ?? 500;
  for (let i = 0; i < notificationIds.length; i += batch) {
    const events = notificationIds
      .slice(i, i + batch)
      .map((notificationId): LedgerEvent => ({ type: 'notification.failed', notificationId, at, reason: 'NODE_LOST', nodeId }));
    // Events partitions may sit on several cluster masters.
    await writeInOrder(redis, [(pipe) => queueLedgerBatches(pipe, keys, events)]);
    deps.ledger?.written(events);
  }

  // Settled before removed: a crash in between leaves the entries to the next pass, which
  // settles them again (the projection keeps one outcome per node, so that is harmless).
  const streamGone = top === undefined || (await removeStream(redis, stream, top, entryIds, deps.batchSize ?? 500));
  const presenceCleared = await removePresence(deps, nodeId, deadline);
  // Kept in `nodes` while its stream still holds entries, so the next pass sees them.
  const removed =
    streamGone && presenceCleared ? Number(await redis.eval(REMOVE_NODE_IF_STALE, 1, keys.nodes, nodeId, deadline)) === 1 : false;

  log.info({ nodeId, settled: notificationIds.length, removed }, 'reaped dead delivery node');
  if (log.isLevelEnabled('debug')) {
    for (const notificationId of notificationIds) log.debug({ notificationId, nodeId }, 'settled as NODE_LOST');
  }
  return { nodeId, notificationIds };
}

/**
 * The entries group `delivery` has not acked: those pending for a consumer, and those
 * never handed out (after the group's last-delivered id). Without the group, all of them.
 * Read up to the stream's newest entry at the start, so a busy stream cannot keep us here.
 */
async function unsettledEntries(deps: ReapDeps, stream: string) {
  const { redis, log } = deps;
  const batch = deps.batchSize ?? 500;
  const newest = await redis.xrevrange(stream, '+', '-', 'COUNT', 1);
  const top = newest[0]?.[0];
  const entryIds: string[] = [];
  const notificationIds = new Set<string>();
  if (top === undefined) return { entryIds, notificationIds: [], top };

  const group = await deliveryGroup(redis, stream);
  const pending = group ? await pendingIds(redis, stream, batch) : new Set<string>();
  const unsettled = (id: string) => !group || pending.has(id) || compareIds(id, group.lastDeliveredId) > 0;

  let start = '-';
  for (;;) {
    const page = await redis.xrange(stream, start, top, 'COUNT', batch);
    for (const [id, fields] of page) {
      if (!unsettled(id)) continue;
      entryIds.push(id);
      const { items, malformed } = deliveryRequestCodec.decodeAll(fields);
      for (const request of items) notificationIds.add(request.notificationId);
      if (malformed.length > 0)
        log.warn({ stream, entryId: id, malformed: malformed.length }, 'undecodable delivery requests; nothing to settle for them');
    }
    if (page.length < batch) break;
    start = `(${page[page.length - 1]![0]}`;
  }
  return { entryIds, notificationIds: [...notificationIds], top };
}

async function deliveryGroup(redis: RedisClient, stream: string): Promise<{ lastDeliveredId: string } | undefined> {
  return parseGroups(await redis.xinfo('GROUPS', stream)).find((g) => g.name === groups.delivery);
}

async function pendingIds(redis: RedisClient, stream: string, batch: number): Promise<Set<string>> {
  const ids = new Set<string>();
  let start = '-';
  for (;;) {
    const page = (await redis.xpending(stream, groups.delivery, start, '+', batch)) as [string, string, number, number][];
    for (const [id] of page) ids.add(id);
    if (page.length < batch) return ids;
    start = `(${page[page.length - 1]![0]}`;
  }
}

async function removeStream(redis: RedisClient, stream: string, top: string, settled: string[], batch: number): Promise<boolean> {
  if (Number(await redis.eval(DELETE_STREAM_IF_UNCHANGED, 1, stream, top)) === 1) return true;
  for (let i = 0; i < settled.length; i += batch) await redis.xdel(stream, ...settled.slice(i, i + batch));
  return false;
}

/**
 * Deletes the node's field from every presence hash. A node restarting under the same id
 * clears its own stale fields before its first heartbeat (delivery/src/node.ts), so once
 * the heartbeat is fresh again its fields are real and we stop.
 */
async function removePresence(deps: ReapDeps, nodeId: string, deadline: number): Promise<boolean> {
  const { redis, keys } = deps;
  const pattern = keys.presence('*');
  const alive = async () => {
    const score = await redis.zscore(keys.nodes, nodeId);
    return score !== null && Number(score) >= deadline;
  };
  if (await alive()) return false;
  // Every master's keys: on a cluster, SCAN sees one node's.
  for await (const found of scanKeys(redis, pattern, deps.batchSize ?? 500)) {
    await writeInOrder(redis, [
      (pipe) => {
        for (const key of found) pipe.hdel(key, nodeId);
      },
    ]);
    if (await alive()) return false;
  }
  return true;
}
