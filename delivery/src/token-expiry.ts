/**
 * Closes sockets whose connect token expires while they are open.
 *
 * Sockets sit in buckets keyed by the whole second their token runs out; one interval
 * sweeps the buckets that are due once a second. At 100k sockets that is one Set entry
 * each and one timer in all, where a timer per socket would mean 100k Timeout objects,
 * each re-armed and cleared on every reconnect, to gain a precision (under a second) that
 * expiry does not need.
 */
export interface ExpiryBuckets<T> {
  /** Files the item under the second of its deadline; returns that bucket, for untrack. */
  track(item: T, deadlineMs: number): number;
  untrack(item: T, bucket: number): void;
  /** Hands every item whose deadline second has come to onExpired, and forgets it. */
  sweep(nowMs: number): void;
  /** Sweeps every intervalMs until the returned function is called. */
  start(intervalMs?: number): () => void;
  size(): number;
}

export function createExpiryBuckets<T>(opts: { onExpired: (item: T) => void; now?: () => number }): ExpiryBuckets<T> {
  const now = opts.now ?? Date.now;
  const buckets = new Map<number, Set<T>>();
  let swept = Math.floor(now() / 1000);
  let count = 0;

  const expiry: ExpiryBuckets<T> = {
    track(item, deadlineMs) {
      // A deadline in a second already swept goes to the next sweep, not to a lost bucket.
      const bucket = Math.max(Math.ceil(deadlineMs / 1000), swept + 1);
      let set = buckets.get(bucket);
      if (!set) buckets.set(bucket, (set = new Set()));
      set.add(item);
      count++;
      return bucket;
    },
    untrack(item, bucket) {
      const set = buckets.get(bucket);
      if (!set?.delete(item)) return;
      count--;
      if (set.size === 0) buckets.delete(bucket);
    },
    sweep(nowMs) {
      const due = Math.floor(nowMs / 1000);
      // Second by second from the last sweep, so a sweep that came late still finds all.
      for (let s = swept + 1; s <= due; s++) {
        const set = buckets.get(s);
        if (!set) continue;
        buckets.delete(s);
        count -= set.size;
        for (const item of set) opts.onExpired(item);
      }
      if (due > swept) swept = due;
    },
    start(intervalMs = 1000) {
      const timer = setInterval(() => expiry.sweep(now()), intervalMs);
      timer.unref();
      return () => clearInterval(timer);
    },
    size: () => count,
  };
  return expiry;
}
