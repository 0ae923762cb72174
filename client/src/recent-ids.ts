/**
 * The notifications a client has seen lately, to drop a repeat: delivery is at least once,
 * and a repeat always carries the same `notificationId`. Bounded, oldest forgotten first (a
 * Map keeps insertion order), since a repeat comes soon after the original or not at all.
 * Each id keeps the connection it came on and whether it was acked.
 */
export interface SeenNotification {
  connection: number;
  acked: boolean;
}

export interface RecentIds {
  get(id: string): SeenNotification | undefined;
  /** Remembers `id`; returns false when it was already there (a repeat). */
  add(id: string, connection: number): boolean;
}

/** Remembers up to `limit` ids. */
export function recentIds(limit: number): RecentIds {
  const seen = new Map<string, SeenNotification>();
  return {
    get: (id) => seen.get(id),
    add(id, connection) {
      if (seen.has(id)) return false;
      seen.set(id, { connection, acked: false });
      if (seen.size > limit) seen.delete(seen.keys().next().value as string);
      return true;
    },
  };
}
