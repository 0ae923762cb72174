/** Redis key names, all under one configurable prefix (docs/design.md, "Redis keys and streams"). */
export interface Keys {
  /** P: how many partitions the commands and events streams are split into. */
  partitions: number;
  /** Commands stream of partition p (0 <= p < P); the gateway picks p by `partitionOf(recipientId)`. */
  commands(p: number): string;
  /** Events stream (the ledger) of partition p. */
  events(p: number): string;
  /** The partition of an id: FNV-1a 32-bit of its UTF-8 bytes, modulo P. */
  partitionOf(id: string): number;
  /** The events stream every event of this notification goes to, in order. */
  eventsOf(notificationId: string): string;
  /** commands(p) for every p, in partition order. */
  allCommands: readonly string[];
  /** events(p) for every p, in partition order. */
  allEvents: readonly string[];
  queries: string;
  nodes: string;
  /** Hash: node id -> open WebSockets, written with each heartbeat (the dashboard reads it). */
  nodeConnections: string;
  /** The P the first service started with (SET NX); every service checks its own against it. */
  partitionCount: string;
  /** Sorted set: dispatcher id -> epoch ms its registration expires (partition-leases.ts). */
  dispatchers: string;
  /** Which dispatcher consumes partition p; expires unless renewed. */
  lease(p: number): string;
  replies(gatewayId: string): string;
  deliveries(nodeId: string): string;
  presence(recipientId: string): string;
  /**
   * Stream (capped): every change delivery nodes make to presence, as `node`, `recipient`,
   * `count` (the field's new value), or `node`, `reset` (drop all of the node's routes).
   * The dispatchers' route tables follow it (dispatcher/src/sending/route-table.ts).
   */
  presenceChanges: string;
  /**
   * Hash (field: notification id) of the statuses notifications were accepted with, until
   * their documents are projected: one per events partition (its hash tag) and second of
   * the id's UUIDv7 time, so a batch writes one HSET and a reader needs only the id;
   * expires (dispatcher/src/projection/snapshots.ts).
   */
  snapshots(notificationId: string): string;
  /** Stream: webhook admin requests from gateways; every dispatcher answers them (one group). */
  webhookAdmin: string;
  /** Counter bumped on every change to the webhook endpoints: relays reload them when it moves. */
  webhookVersion: string;
  /** Stream (capped): an endpoint's recent delivery attempts, newest last. */
  webhookAttempts(endpointId: string): string;
}

export const groups = {
  dispatcher: 'dispatcher',
  projector: 'projector',
  delivery: 'delivery',
  webhooks: 'webhooks',
} as const;

export const MAX_PARTITIONS = 256;

/**
 * With one partition the streams keep their historical names (`<prefix>commands`,
 * `<prefix>events`), so an existing deployment needs no migration. With more, each
 * partition stream has a hash tag of its own (`{c3}`, `{e3}`): on Redis Cluster every
 * partition can sit on a different slot, and a command never names two streams anyway.
 */
export function makeKeys(prefix = 'pushflow:', partitions = 1): Keys {
  if (!Number.isInteger(partitions) || partitions < 1 || partitions > MAX_PARTITIONS) {
    throw new RangeError(`partitions must be an integer from 1 to ${MAX_PARTITIONS}, got ${partitions}`);
  }
  const commands = (p: number) => (checked(p, partitions) === 0 && partitions === 1 ? `${prefix}commands` : `${prefix}commands:{c${p}}`);
  const events = (p: number) => (checked(p, partitions) === 0 && partitions === 1 ? `${prefix}events` : `${prefix}events:{e${p}}`);
  const partitionOf = (id: string) => (partitions === 1 ? 0 : fnv1a32(id) % partitions);
  const range = Array.from({ length: partitions }, (_, p) => p);
  return {
    partitions,
    commands,
    events,
    partitionOf,
    eventsOf: (notificationId) => events(partitionOf(notificationId)),
    allCommands: range.map(commands),
    allEvents: range.map(events),
    queries: `${prefix}queries`,
    nodes: `${prefix}nodes`,
    nodeConnections: `${prefix}node-connections`,
    partitionCount: `${prefix}partitions`,
    dispatchers: `${prefix}dispatchers`,
    lease: (p) => `${prefix}lease:{l${checked(p, partitions)}}`,
    replies: (gatewayId) => `${prefix}replies:${gatewayId}`,
    deliveries: (nodeId) => `${prefix}deliveries:${nodeId}`,
    presence: (recipientId) => `${prefix}presence:${recipientId}`,
    // Not `presence:...`: SCAN MATCH over the presence hashes must not find it.
    presenceChanges: `${prefix}presence-changes`,
    // Hash tags keep each key on a slot of its own id; no command ever names two of them.
    snapshots: (notificationId) =>
      `${prefix}snapshots:${partitions === 1 ? '' : `{e${partitionOf(notificationId)}}:`}${uuidSecond(notificationId)}`,
    webhookAdmin: `${prefix}webhook-admin`,
    webhookVersion: `${prefix}webhook-version`,
    webhookAttempts: (endpointId) => `${prefix}webhook-attempts:${endpointId}`,
  };
}

function checked(p: number, partitions: number): number {
  if (!Number.isInteger(p) || p < 0 || p >= partitions) throw new RangeError(`partition ${p} is not in 0..${partitions - 1}`);
  return p;
}

/**
 * FNV-1a, 32 bits, over the UTF-8 bytes of the string: offset basis 2166136261, prime
 * 16777619, the result as an unsigned integer. Chosen because a client in any language can
 * compute it in a few lines (and must, to find a notification's events partition itself).
 */
/**
 * The second of a UUIDv7's timestamp (its first 48 bits), or `x` for an id that is not one:
 * ids are the gateway's UUIDv7s, and an older gateway's correlation ids, UUIDv7s too.
 */
function uuidSecond(id: string): string {
  if (!UUIDV7.test(id)) return 'x';
  return String(Math.floor(parseInt(id.slice(0, 8) + id.slice(9, 13), 16) / 1000));
}

const UUIDV7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7/i;

export function fnv1a32(text: string): number {
  let hash = 0x811c9dc5;
  for (const byte of Buffer.from(text, 'utf8')) {
    hash ^= byte;
    hash = Math.imul(hash, 0x01000193);
  }
  return hash >>> 0;
}
