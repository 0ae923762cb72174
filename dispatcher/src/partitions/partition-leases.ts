import { fnv1a32, type Keys, type Logger, type RedisClient } from '@pushflow/shared';

/**
 * Dispatchers share the P partitions of the commands and events streams: each partition is
 * consumed by one dispatcher at a time, the one holding its lease (`<prefix>lease:{l<p>}`,
 * its value the dispatcher's consumer id, SET NX PX, renewed by compare-and-extend).
 *
 * Every `renewMs` each dispatcher
 * - registers in `<prefix>dispatchers` (a sorted set scored by when the registration
 *   expires) and drops registrations that expired, which counts the live dispatchers;
 * - renews its leases; a lease found taken by another (this process was paused past its
 *   lease) is dropped at once: its consumers stop without finishing a batch;
 * - aims at its fair share, ceil(P / live dispatchers): past it, it releases the surplus
 *   (stopping that partition's consumers first, so the batch in hand is finished and
 *   acked, then deleting the lease); short of it, it takes free leases: those released,
 *   and those of a dispatcher that died (expired).
 *
 * Between rounds a watchdog stops the consumers of any lease not renewed within one renewal
 * period of its expiry: a renewal that hangs (a Redis that takes the request and never
 * answers) holds up the round, and the partition may be another dispatcher's by then.
 *
 * A partition taken from another dispatcher starts its consumers with `reclaim`: what the
 * previous owner left pending is claimed at once. The lease says the owner is gone; if it
 * was only paused, idempotent handlers make that a duplicate, never a loss.
 *
 * The lease value is the consumer id, which stays the same across restarts when
 * PUSHFLOW_CONSUMER_ID is set: a dispatcher restarted after a crash finds its own leases
 * and resumes them at once (its own pending entries are re-read by its consumers).
 */
export interface PartitionWork {
  /** Stops the partition's consumers; each finishes the batch in hand first. */
  stop(): Promise<void>;
}

export interface PartitionLeaseOptions {
  /** Ordinary commands; no blocking reads. */
  redis: RedisClient;
  keys: Keys;
  /** The dispatcher's consumer id: lease value and registration. */
  owner: string;
  leaseMs: number;
  renewMs: number;
  log: Logger;
  /** Starts consuming partition p. `reclaim`: another dispatcher held it before. */
  start(partition: number, opts: { reclaim: boolean }): PartitionWork;
  /** Told the partitions held after every change. */
  onChange?(held: number[]): void;
}

export interface PartitionLeases {
  held(): number[];
  /** Releases every lease after stopping its partition's consumers; unregisters. */
  stop(): Promise<void>;
  /** One round now (tests; the timer runs rounds by itself). */
  tick(): Promise<void>;
}

// Renews a lease that is ours (1); takes it back if it expired unclaimed (2: Redis restarted
// without its data, or this process was paused; nobody else consumed it meanwhile).
const EXTEND_IF_OURS = `
local v = redis.call('GET', KEYS[1])
if v == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
if not v then redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) return 2 end
return 0`;

const DELETE_IF_OURS = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`;

export function startPartitionLeases(opts: PartitionLeaseOptions): PartitionLeases {
  const { redis, keys, owner, leaseMs, log } = opts;
  const P = keys.partitions;
  const held = new Map<number, { work: PartitionWork; validUntil: number }>();
  let stopping = false;
  // Rounds never overlap: a release waits for a batch, and the next round must see its end.
  let round: Promise<void> = Promise.resolve();

  const heldList = () => [...held.keys()].sort((a, b) => a - b);
  const changed = () => {
    const list = heldList();
    log.info({ partitions: list, of: P }, 'partitions held');
    opts.onChange?.(list);
  };

  async function liveDispatchers(now: number): Promise<number> {
    const replies = await redis
      .multi()
      .zadd(keys.dispatchers, now + leaseMs, owner)
      .zremrangebyscore(keys.dispatchers, '-inf', now)
      .zcard(keys.dispatchers)
      .exec();
    return Math.max(1, Number(replies?.[2]?.[1] ?? 1));
  }

  async function renew(now: number): Promise<boolean> {
    let lost = false;
    for (const [p, lease] of held) {
      let kept: boolean;
      try {
        kept = Number(await redis.eval(EXTEND_IF_OURS, 1, keys.lease(p), owner, leaseMs)) > 0;
      } catch (err) {
        // Unanswered: ours until it would have expired, then presumed taken.
        if (Date.now() < lease.validUntil) throw err;
        kept = false;
      }
      if (kept) {
        lease.validUntil = now + leaseMs;
        continue;
      }
      log.warn({ partition: p }, 'partition lease lost to another dispatcher; stopping its consumers');
      held.delete(p);
      lost = true;
      await lease.work.stop();
    }
    return lost;
  }

  async function release(p: number): Promise<void> {
    const lease = held.get(p);
    if (!lease) return;
    held.delete(p);
    await lease.work.stop();
    await redis.eval(DELETE_IF_OURS, 1, keys.lease(p), owner);
  }

  async function take(p: number, now: number): Promise<boolean> {
    const key = keys.lease(p);
    if ((await redis.set(key, owner, 'PX', leaseMs, 'NX')) === 'OK') {
      // The lease was free: released by a dispatcher that finished its batch, or expired
      // with one that died; either way what the group has pending is not being worked on.
      held.set(p, { work: opts.start(p, { reclaim: true }), validUntil: now + leaseMs });
      return true;
    }
    // Our own lease from before a restart: resume it, nobody else can have it. (Or it
    // expired just now: then, as above, reclaim.)
    const result = Number(await redis.eval(EXTEND_IF_OURS, 1, key, owner, leaseMs));
    if (result === 0) return false;
    held.set(p, { work: opts.start(p, { reclaim: result === 2 }), validUntil: now + leaseMs });
    return true;
  }

  async function balance(): Promise<void> {
    const now = Date.now();
    let changes = await renew(now);
    const share = Math.ceil(P / (await liveDispatchers(now)));
    // The highest partitions go first, so the survivors' sets stay contiguous and stable.
    for (const p of heldList().reverse()) {
      if (held.size <= share || stopping) break;
      await release(p);
      changes = true;
    }
    if (held.size < share && !stopping) {
      // Start the search at a place of our own, so joining dispatchers rarely race for one lease.
      const offset = fnv1a32(owner) % P;
      for (let i = 0; i < P && held.size < share; i++) {
        const p = (offset + i) % P;
        if (held.has(p)) continue;
        if (await take(p, now)) changes = true;
      }
    }
    if (changes) changed();
  }

  function dropUnrenewed(): void {
    const deadline = Date.now() + opts.renewMs;
    let dropped = false;
    for (const [p, lease] of held) {
      if (deadline < lease.validUntil) continue;
      log.warn({ partition: p }, 'partition lease not renewed in time; stopping its consumers');
      held.delete(p);
      dropped = true;
      lease.work
        .stop()
        .catch((err: unknown) => log.warn({ partition: p, err: (err as Error).message }, 'partition consumers did not stop cleanly'));
    }
    if (dropped) changed();
  }

  const tick = () =>
    (round = round
      .then(() => (stopping ? undefined : balance()))
      .catch((err: unknown) => {
        log.warn({ err: (err as Error).message }, 'partition lease round failed; retrying');
      }));

  const timer = setInterval(() => {
    dropUnrenewed();
    void tick();
  }, opts.renewMs);
  void tick();

  return {
    held: heldList,
    tick,
    async stop() {
      clearInterval(timer);
      stopping = true;
      await round;
      // Every partition's consumers stop together: the batches in hand finish in parallel.
      await Promise.all(
        heldList().map((p) =>
          release(p).catch((err: unknown) => {
            log.warn({ partition: p, err: (err as Error).message }, 'partition lease not released; it expires by itself');
          }),
        ),
      );
      await redis.zrem(keys.dispatchers, owner).catch(() => undefined);
      changed();
    },
  };
}
