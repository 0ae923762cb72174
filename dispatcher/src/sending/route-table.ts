import {
  backoffMs,
  compareIds,
  pipelined,
  scanKeys,
  type AlongResult,
  type ConsumerOptions,
  type Keys,
  type Logger,
  type RedisClient,
} from '@pushflow/shared';
import { routeRecipients } from './router.ts';

/**
 * The dispatcher's in-memory route table: which delivery nodes hold sockets of which
 * recipient, so routing a batch costs no Redis read for recipients known to be online.
 *
 * Delivery nodes write presence hashes and append each change to `presence-changes`
 * (delivery/src/presence.ts): a field's new count, or a reset of a whole node. The table
 * notes the stream's position, SCANs every presence hash, then follows the stream from
 * that position; as each entry carries a count, not a delta, replaying a change the scan
 * already saw is harmless. It resyncs in full when it finds it missed entries (trimmed
 * away, or the stream deleted), after any reconnect of its connections (Redis may have
 * restarted without its data) and every `resyncMs` anyway (a change a crashed node wrote
 * to the hash but never published, on Redis Cluster). Liveness comes from the heartbeats
 * in `nodes`, read every `livenessMs`, and is judged per call against the same
 * `nodeTtlMs` as router.ts.
 *
 * Why a stale table is safe: a recipient the table sees on no live node is confirmed from
 * Redis as before (one pipelined read per batch), so a client that connected just before
 * the send is routed as it always was, and the table can never make a notification fail
 * RECIPIENT_OFFLINE that Redis would have routed. A route the table still holds after the
 * socket closed reaches a node that answers RECIPIENT_OFFLINE itself: one honest outcome,
 * as when a socket closes just after routing today. Until the table is in sync (at start,
 * after a reconnect or a gap, or when its reads stall) every call reads Redis instead.
 */
export interface RouteTable {
  /**
   * Resolves once the first resync is done, or failed (then every call reads Redis until
   * a later one succeeds), or stop() was called.
   */
  start(): Promise<void>;
  /** Recipient id -> the live nodes holding its sockets, sorted; as routeRecipients. */
  route(recipientIds: string[], now: number): Promise<Map<string, string[]>>;
  /**
   * For one partition's sender: `alongside` pipelines the read of the changes behind each
   * blocking read of its commands (consumer.ts), and `route` routes the batch that read
   * brought with what came along, instead of reading again: a round trip and a system call
   * less per batch, and the table as fresh as the batch.
   */
  alongReads(): { alongside: NonNullable<ConsumerOptions['alongside']>; route: RouteTable['route'] };
  stop(): Promise<void>;
  /** Full resyncs so far, recipients known, and recipients routed by reading Redis. */
  stats(): { synced: boolean; resyncs: number; recipients: number; fromRedis: number };
}

export interface RouteTableDeps {
  /** Resyncs, heartbeats and confirmations go here; usually the dispatcher's main connection. */
  redis: RedisClient;
  /** The table's own connection, for its blocking reads of the change stream; stop() closes it. */
  blocking: RedisClient;
  keys: Keys;
  nodeTtlMs: number;
  log: Logger;
  /** How often the heartbeats are read; by default a quarter of nodeTtlMs, at most a second. */
  livenessMs?: number;
  /** How often the table is rebuilt even when nothing went wrong. */
  resyncMs?: number;
  /** XREAD BLOCK time while waiting for changes. */
  blockMs?: number;
  /** Changes per read, and keys per SCAN step of a resync. */
  batchSize?: number;
}

// The stream's counters and the entries after ARGV[1], read in one step so a trim cannot
// fall between them. `entries-added` (Redis 7) counts every entry ever appended: with
// nothing deleted but by trimming, the stream holds exactly the last `length` of them.
const READ_CHANGES = `
if redis.call('EXISTS', KEYS[1]) == 0 then return {0, 0, '0-0', {}} end
local info = redis.call('XINFO', 'STREAM', KEYS[1])
local f = {}
for i = 1, #info, 2 do f[info[i]] = info[i + 1] end
local entries = {}
if tonumber(ARGV[2]) > 0 then entries = redis.call('XRANGE', KEYS[1], '(' .. ARGV[1], '+', 'COUNT', ARGV[2]) end
return {f['entries-added'] or -1, f['length'], f['last-generated-id'], entries}`;

type ChangesReply = [added: number, length: number, lastId: string, entries: [string, string[]][]];
type Page = [id: string, fields: string[]][];
/** A read of the changes that came along a batch: from where, in which epoch, and its answer. */
type TakenAlong = { from: string; at: number; result: AlongResult };

/** A table that heard nothing from Redis for this long past a blocking read is not trusted. */
const STALL_MS = 5000;

export function createRouteTable(deps: RouteTableDeps): RouteTable {
  const { redis, blocking, keys, nodeTtlMs, log } = deps;
  const livenessMs = deps.livenessMs ?? Math.max(10, Math.min(1000, Math.floor(nodeTtlMs / 4)));
  const resyncMs = deps.resyncMs ?? 60_000;
  const blockMs = deps.blockMs ?? 1000;
  const batchSize = deps.batchSize ?? 1000;
  const stream = keys.presenceChanges;
  const presencePrefix = keys.presence('');

  /** recipient -> nodes with a socket of it, and the same the other way round (for resets). */
  let byRecipient = new Map<string, Set<string>>();
  let byNode = new Map<string, Set<string>>();
  /** node -> its last heartbeat (epoch ms). */
  let heartbeats = new Map<string, number>();
  /** The last change applied, and how many entries the stream had ever taken by then. */
  let position = '0-0';
  let seen = 0;
  /** False until the first resync, and from a gap until the next. */
  let haveState = false;

  /**
   * Bumped by whatever makes the table untrustworthy (a reconnect, a gap): only a resync
   * begun after it is trusted again. `epoch` is bumped by every install, so a read begun
   * against the state it replaced is thrown away.
   */
  let generation = 0;
  let stateGeneration = -1;
  let epoch = 0;
  let wanted: string | undefined;
  let resyncing = false;
  let wake: () => void = () => {};
  let followFailing = false;
  let heardAt = 0;
  let reading = false;
  let stopped = false;
  let resyncs = 0;
  let fromRedis = 0;
  let settle: () => void = () => {};
  const firstResync = new Promise<void>((resolve) => (settle = resolve));

  function requestResync(reason: string, distrust: boolean): void {
    if (distrust) generation++;
    else if (resyncing || wanted !== undefined) return;
    wanted = reason;
    wake();
  }

  // Redis may have restarted without its data, or lost a reply we never saw. A
  // connection's first connect is none of that: nothing was read through it before.
  const connected = new Set<RedisClient>();
  const readyHandler = (client: RedisClient) => () => {
    if (connected.has(client)) requestResync('reconnect', true);
    else connected.add(client);
  };
  const onReady = [redis, blocking].map((client) => [client, readyHandler(client)] as const);

  function add(table: { byRecipient: Map<string, Set<string>>; byNode: Map<string, Set<string>> }, recipient: string, node: string): void {
    let nodes = table.byRecipient.get(recipient);
    if (!nodes) table.byRecipient.set(recipient, (nodes = new Set()));
    nodes.add(node);
    let recipients = table.byNode.get(node);
    if (!recipients) table.byNode.set(node, (recipients = new Set()));
    recipients.add(recipient);
  }

  function remove(recipient: string, node: string): void {
    const nodes = byRecipient.get(recipient);
    if (nodes?.delete(node) && nodes.size === 0) byRecipient.delete(recipient);
    const recipients = byNode.get(node);
    if (recipients?.delete(recipient) && recipients.size === 0) byNode.delete(node);
  }

  function apply(fields: string[]): void {
    const f: Record<string, string> = {};
    for (let i = 0; i + 1 < fields.length; i += 2) f[fields[i]!] = fields[i + 1]!;
    if (f.node === undefined) return;
    if (f.reset !== undefined) {
      for (const recipient of byNode.get(f.node) ?? []) remove(recipient, f.node);
    } else if (f.recipient !== undefined) {
      if (Number(f.count) > 0) add({ byRecipient, byNode }, f.recipient, f.node);
      else remove(f.recipient, f.node);
    }
  }

  async function readChanges(client: RedisClient, from: string, count: number): Promise<ChangesReply> {
    const reply = (await client.eval(READ_CHANGES, 1, stream, from, count)) as ChangesReply;
    if (reply[0] < 0) throw new Error('the route table needs Redis 7 or newer (XINFO STREAM entries-added)');
    return reply;
  }

  async function readHeartbeats(): Promise<Map<string, number>> {
    const flat = await redis.zrange(keys.nodes, 0, -1, 'WITHSCORES');
    const beats = new Map<string, number>();
    for (let i = 0; i + 1 < flat.length; i += 2) beats.set(flat[i]!, Number(flat[i + 1]));
    return beats;
  }

  /**
   * Builds a new table beside the one in use (which goes on following the stream), then
   * swaps it in with the position noted before the scan: the follower replays from there.
   */
  async function resync(reason: string): Promise<boolean> {
    const gen = generation;
    const startedAt = Date.now();
    const [added, , lastId] = await readChanges(redis, '0-0', 0);
    const table = { byRecipient: new Map<string, Set<string>>(), byNode: new Map<string, Set<string>>() };
    let routes = 0;
    for await (const found of scanKeys(redis, keys.presence('*'), batchSize, 'hash')) {
      if (stopped || gen !== generation) return false;
      const results = await pipelined(redis, (pipe) => {
        for (const key of found) pipe.hgetall(key);
      });
      found.forEach((key, i) => {
        const [err, value] = results[i]!;
        if (err) throw err;
        const recipient = key.slice(presencePrefix.length);
        for (const [node, count] of Object.entries(value as Record<string, string>)) {
          if (Number(count) <= 0) continue;
          add(table, recipient, node);
          routes++;
        }
      });
    }
    const beats = await readHeartbeats();
    // Superseded (a reconnect during the scan may have met another Redis): the newer runs next.
    if (stopped || gen !== generation) return false;
    ({ byRecipient, byNode } = table);
    heartbeats = beats;
    position = lastId;
    seen = added;
    haveState = true;
    stateGeneration = gen;
    epoch++;
    heardAt = Date.now();
    resyncs++;
    log.info({ reason, recipients: byRecipient.size, routes, nodes: beats.size, ms: Date.now() - startedAt }, 'route table resynced');
    return true;
  }

  async function resyncLoop(): Promise<void> {
    let failures = 0;
    while (!stopped) {
      const reason = wanted;
      if (reason === undefined) {
        await new Promise<void>((resolve) => (wake = resolve));
        continue;
      }
      wanted = undefined;
      resyncing = true;
      try {
        if (await resync(reason)) settle();
        failures = 0;
      } catch (err) {
        if (stopped) break;
        wanted ??= reason;
        if (failures++ === 0) log.warn({ err: (err as Error).message, reason }, 'route table resync failed; routing from Redis, retrying');
        // The dispatcher need not wait: routing from Redis is what it did before the table.
        settle();
        await backoff(failures);
      } finally {
        resyncing = false;
      }
    }
  }

  /**
   * Applies the changes after `position` read through `client`; true when more may be
   * waiting, false once caught up or on a gap (then a resync is on its way). The follower
   * and route() both call it: an entry at or before `position` is skipped, so neither
   * applies an older change over a newer one.
   */
  async function catchUp(client: RedisClient): Promise<boolean> {
    // The usual case, one plain XRANGE from our own entry: still there, nothing after it can
    // have been trimmed (trimming takes the oldest first), so what follows is everything we
    // missed. When our entry is gone, or was never one (an empty stream at the resync), the
    // stream's counters decide whether something was lost: a Lua script, several times the
    // Redis CPU of the XRANGE, once per routed batch.
    const at = epoch;
    const from = position;
    if (from !== '0-0') {
      const page = (await client.xrange(stream, from, '+', 'COUNT', batchSize + 1)) as Page;
      if (stopped || at !== epoch) return true;
      const more = applyPage(page, from);
      if (more !== undefined) return more;
    }
    return catchUpCounting(client);
  }

  /**
   * Applies a page that XRANGE read from `from` on, in the epoch it was read in: whether
   * more may be waiting, or undefined when `from` is gone from the stream and the page
   * cannot vouch that nothing was trimmed away before it.
   */
  function applyPage(page: Page, from: string): boolean | undefined {
    if (page[0]?.[0] !== from) return undefined;
    heardAt = Date.now();
    followFailing = false;
    for (const [id, fields] of page) {
      if (compareIds(id, position) <= 0) continue;
      apply(fields);
      position = id;
      seen++;
    }
    return page.length > batchSize;
  }

  /**
   * What route() reads before routing, unless a read along the batch (alongReads) brought
   * it already: whether more may be waiting, as catchUp.
   */
  async function freshen(along: TakenAlong | undefined): Promise<boolean> {
    if (along && along.at === epoch && 'reply' in along.result) {
      if (applyPage(along.result.reply as Page, along.from) === false) return false;
    }
    return catchUp(redis);
  }

  /** catchUp by the stream's counters (READ_CHANGES), for when our entry cannot vouch for the stream. */
  async function catchUpCounting(client: RedisClient): Promise<boolean> {
    const at = epoch;
    const from = position;
    const seenAtRead = seen;
    const [added, length, , entries] = await readChanges(client, from, batchSize);
    if (stopped || at !== epoch) return true;
    heardAt = Date.now();
    followFailing = false;
    // Entries after ours were trimmed away (we fell more than the cap behind), or the
    // stream was deleted and started again.
    if (added < seenAtRead || added - length > seenAtRead) {
      log.warn({ missed: Math.max(0, added - length - seenAtRead) }, 'route table missed presence changes; resyncing');
      haveState = false;
      requestResync('gap', true);
      return false;
    }
    for (const [id, fields] of entries) {
      if (compareIds(id, position) <= 0) continue;
      apply(fields);
      position = id;
      seen++;
    }
    return entries.length === batchSize;
  }

  /** Waits for a change after `position` (or blockMs); follow() reads what it finds. */
  async function waitForChanges(): Promise<void> {
    reading = true;
    try {
      await blocking.call('XREAD', 'COUNT', 1, 'BLOCK', blockMs, 'STREAMS', stream, position);
      heardAt = Date.now();
    } finally {
      reading = false;
    }
  }

  async function followLoop(): Promise<void> {
    let failures = 0;
    while (!stopped) {
      try {
        if (!haveState) await sleep(20);
        else if (!(await catchUp(blocking))) await waitForChanges();
        failures = 0;
      } catch (err) {
        if (stopped) break;
        followFailing = true;
        if (failures++ === 0)
          log.warn({ err: (err as Error).message }, 'route table cannot follow presence changes; routing from Redis until it can');
        await backoff(failures);
      }
    }
  }

  let refreshing = false;
  async function refreshHeartbeats(): Promise<void> {
    if (refreshing || stopped) return;
    refreshing = true;
    try {
      heartbeats = await readHeartbeats();
    } catch (err) {
      log.debug({ err: (err as Error).message }, 'route table could not read heartbeats');
    } finally {
      refreshing = false;
    }
  }

  function trusted(): boolean {
    return haveState && stateGeneration === generation && !followFailing && !stopped && Date.now() - heardAt <= blockMs + STALL_MS;
  }

  function liveNodes(recipient: string, now: number): string[] {
    const nodes = byRecipient.get(recipient);
    if (!nodes) return [];
    const oldest = now - nodeTtlMs;
    return [...nodes].filter((node) => (heartbeats.get(node) ?? -Infinity) >= oldest).sort();
  }

  async function routeBatch(recipientIds: string[], now: number, along: TakenAlong | undefined): Promise<Map<string, string[]>> {
    // First the changes the follower has not applied yet: one read per batch, never per
    // notification, and the table is then as fresh as the presence hashes were at the
    // time of routing (a second device that connected a moment ago is routed to). Too
    // many waiting, or no answer: this batch is routed from Redis.
    const fresh = trusted() && !(await freshen(along).catch(() => true)) && trusted();
    if (!fresh) {
      fromRedis += recipientIds.length;
      return routeRecipients(redis, keys, recipientIds, nodeTtlMs, now);
    }
    const routes = new Map<string, string[]>();
    const unsure: string[] = [];
    for (const recipient of new Set(recipientIds)) {
      const nodes = liveNodes(recipient, now);
      routes.set(recipient, nodes);
      // Offline here may only mean its connect is still on the way, and a node left out
      // may only be one whose first heartbeats the table has not read yet (they are read
      // every livenessMs): ask Redis, as before the table.
      if (nodes.length === 0 || nodes.length < (byRecipient.get(recipient)?.size ?? 0)) unsure.push(recipient);
    }
    if (unsure.length > 0) {
      fromRedis += unsure.length;
      for (const [recipient, nodes] of await routeRecipients(redis, keys, unsure, nodeTtlMs, now)) routes.set(recipient, nodes);
    }
    return routes;
  }

  let timers: NodeJS.Timeout[] = [];
  let loops: Promise<void>[] = [];

  return {
    async start() {
      if (stopped) return;
      for (const [client, handler] of onReady) {
        if (client.status === 'ready') connected.add(client);
        client.on('ready', handler);
      }
      requestResync('start', true);
      timers = [setInterval(() => void refreshHeartbeats(), livenessMs), setInterval(() => requestResync('periodic', false), resyncMs)];
      for (const t of timers) t.unref();
      loops = [resyncLoop(), followLoop()];
      await firstResync;
    },

    route: (recipientIds, now) => routeBatch(recipientIds, now, undefined),

    alongReads() {
      let issued: { from: string; at: number } | undefined;
      let taken: TakenAlong | undefined;
      return {
        alongside: {
          command() {
            // A new read: whatever came along an earlier one is no answer for its batch.
            taken = undefined;
            issued = trusted() && position !== '0-0' ? { from: position, at: epoch } : undefined;
            return issued && ['XRANGE', stream, issued.from, '+', 'COUNT', batchSize + 1];
          },
          take(result) {
            taken = issued && { ...issued, result };
          },
        },
        route(recipientIds, now) {
          const along = taken;
          taken = undefined;
          return routeBatch(recipientIds, now, along);
        },
      };
    },

    async stop() {
      stopped = true;
      for (const t of timers) clearInterval(t);
      for (const [client, handler] of onReady) client.off('ready', handler);
      settle();
      wake();
      // A blocked XREAD would hold us for up to blockMs; closing the connection ends it.
      if (reading) blocking.disconnect();
      await Promise.all(loops);
      blocking.disconnect();
    },

    stats: () => ({ synced: trusted(), resyncs, recipients: byRecipient.size, fromRedis }),
  };
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
const backoff = (failures: number) => sleep(backoffMs(failures, 100, 2000));
