import { hostname } from 'node:os';
import { Type, type Static } from '@sinclair/typebox';
import { common, ConfigError, loadConfig } from '@pushflow/shared';
import { DEFAULT_RETRY_SCHEDULE, parseRetrySchedule } from './webhooks/retry-schedule.ts';

const DAY_MS = 86_400_000;

export const DispatcherConfigSchema = Type.Object({
  REDIS_URL: common.REDIS_URL,
  MONGO_URL: common.MONGO_URL,
  /**
   * How many members acknowledge each write before it counts: `majority` (a write that
   * survives a primary's failover, which the guarantees need) or a number of members.
   * Never 0: an unacknowledged write could be lost after the client was told it was stored.
   */
  PUSHFLOW_MONGO_WRITE_CONCERN: Type.String({ default: 'majority', pattern: '^(majority|[1-9][0-9]?)$' }),
  PUSHFLOW_REDIS_PREFIX: common.PUSHFLOW_REDIS_PREFIX,
  PUSHFLOW_PARTITIONS: common.PUSHFLOW_PARTITIONS,
  PUSHFLOW_ENTRY_FORMAT: common.PUSHFLOW_ENTRY_FORMAT,
  LOG_LEVEL: common.LOG_LEVEL,
  PUSHFLOW_METRICS_TOKEN: common.PUSHFLOW_METRICS_TOKEN,
  DISPATCHER_HOST: Type.String({ default: '0.0.0.0' }),
  DISPATCHER_PORT: common.port(3001),
  /** Consumer name in the groups; stable across restarts lets a restart resume its own pending work. */
  PUSHFLOW_CONSUMER_ID: Type.String({ default: `${hostname()}-${process.pid}`, pattern: '^[A-Za-z0-9_.-]{1,128}$' }),
  PUSHFLOW_BATCH_SIZE: Type.Integer({ minimum: 1, maximum: 10_000, default: 500 }),
  /**
   * The projector's batch: large, so a notification's accepted, dispatched and delivered
   * events mostly land in one batch and its document is written once, by one insert.
   */
  PUSHFLOW_PROJECTOR_BATCH_SIZE: Type.Integer({ minimum: 1, maximum: 10_000, default: 2000 }),
  /**
   * A short read waits this long for more before it is projected, so a notification's
   * outcome (a few milliseconds after its dispatch) joins the insert of its document instead
   * of costing a second write. 0 projects at once. Status documents lag by as much.
   */
  PUSHFLOW_PROJECTOR_LINGER_MS: Type.Integer({ minimum: 0, maximum: 1000, default: 25 }),
  /**
   * How long a status snapshot lasts at most: what GET answers from until the projector has
   * written the document (which drops it). It must outlive a crashed dispatcher's pending
   * events, taken over after PUSHFLOW_CLAIM_IDLE_MS: a snapshot gone before its document
   * exists would answer 404. (The name is from when it also bounded a record of each
   * command; commands now carry their notification's id, sender.ts.)
   */
  PUSHFLOW_COMMAND_MEMORY_SECONDS: Type.Integer({ minimum: 1, maximum: 30 * 86_400, default: 600 }),
  PUSHFLOW_BLOCK_MS: common.millis(1000),
  /**
   * How long a dispatcher's hold on a partition lasts unless renewed (partition-leases.ts):
   * how long a dead dispatcher's partitions wait before another takes them over.
   */
  PUSHFLOW_PARTITION_LEASE_MS: Type.Integer({ minimum: 500, maximum: 600_000, default: 10_000 }),
  /** How often leases are renewed and the partitions rebalanced; under half the lease time. */
  PUSHFLOW_PARTITION_RENEW_MS: Type.Integer({ minimum: 100, maximum: 300_000, default: 2000 }),
  PUSHFLOW_CLAIM_IDLE_MS: common.PUSHFLOW_CLAIM_IDLE_MS,
  PUSHFLOW_MAX_ATTEMPTS: common.PUSHFLOW_MAX_ATTEMPTS,
  PUSHFLOW_NODE_TTL_MS: common.PUSHFLOW_NODE_TTL_MS,
  /**
   * A delivery node whose heartbeat is older than this is dead: the reaper settles its
   * partition as NODE_LOST. Longer than PUSHFLOW_NODE_TTL_MS, so nothing is still being
   * routed to a node when it is reaped.
   */
  PUSHFLOW_NODE_LOST_MS: common.millis(15_000),
  PUSHFLOW_REAPER_INTERVAL_MS: common.millis(5000),
  /** Ledger entries younger than this are kept even when every group has processed them. */
  PUSHFLOW_LEDGER_RETENTION_MS: Type.Integer({ minimum: 0, maximum: 3650 * DAY_MS, default: 7 * DAY_MS }),
  PUSHFLOW_LEDGER_TRIM_INTERVAL_MS: common.millis(60_000),
  /** Status documents expire this many days after their last change (TTL index). */
  PUSHFLOW_STATUS_TTL_DAYS: Type.Integer({ minimum: 1, maximum: 36_500, default: 30 }),
  /** A webhook POST answered 2xx within this counts as delivered; anything else is retried. */
  PUSHFLOW_WEBHOOK_TIMEOUT_MS: Type.Integer({ minimum: 100, maximum: 120_000, default: 10_000 }),
  /** The waits between attempts of a webhook message (retry-schedule.ts); about a day in all by default. */
  PUSHFLOW_WEBHOOK_RETRY_SCHEDULE: Type.String({ default: DEFAULT_RETRY_SCHEDULE, minLength: 2 }),
  /** POSTs in flight at once to one endpoint, per dispatcher. */
  PUSHFLOW_WEBHOOK_CONCURRENCY: Type.Integer({ minimum: 1, maximum: 1000, default: 32 }),
  /** Lifts the SSRF guard: endpoints on loopback, private and link-local addresses are allowed (development only). */
  PUSHFLOW_WEBHOOK_ALLOW_PRIVATE: Type.Boolean({ default: false }),
  /**
   * A first attempt not settled within this is written to MongoDB (the retry store) and its
   * ledger entry acked, so a slow endpoint never holds the relay's next read.
   */
  PUSHFLOW_WEBHOOK_HANDOFF_MS: Type.Integer({ minimum: 10, maximum: 60_000, default: 1000 }),
  /** How often each dispatcher looks for stored webhook messages that are due, and for an enabled endpoint (ledger-follower.ts). */
  PUSHFLOW_WEBHOOK_POLL_MS: Type.Integer({ minimum: 10, maximum: 60_000, default: 1000 }),
  /** A short read of the ledger waits this long for more, so the relay reads in large batches. */
  PUSHFLOW_WEBHOOK_LINGER_MS: Type.Integer({ minimum: 0, maximum: 1000, default: 50 }),
  /**
   * How many nice steps below the dispatcher the webhook relay's thread runs (Linux). Under
   * a saturated CPU the kernel then serves sends first and webhooks catch up after; 0 gives
   * the relay the same share as sends.
   */
  PUSHFLOW_WEBHOOK_NICE: Type.Integer({ minimum: 0, maximum: 19, default: 19 }),
  /** How much of a webhook response is read (the rest is discarded). */
  PUSHFLOW_WEBHOOK_MAX_RESPONSE_BYTES: Type.Integer({ minimum: 0, maximum: 1_048_576, default: 4096 }),
  /** After a rotation, how long the previous secret goes on signing beside the new one. */
  PUSHFLOW_WEBHOOK_ROTATION_OVERLAP_SECONDS: Type.Integer({ minimum: 0, maximum: 30 * 86_400, default: 86_400 }),
});
export type DispatcherConfig = Static<typeof DispatcherConfigSchema>;

/** Loads the schema, then the rules that tie variables together. */
export function loadDispatcherConfig(env: NodeJS.ProcessEnv = process.env): DispatcherConfig {
  const config = loadConfig(DispatcherConfigSchema, env);
  if (config.PUSHFLOW_NODE_LOST_MS <= config.PUSHFLOW_NODE_TTL_MS) {
    throw new ConfigError(
      'PUSHFLOW_NODE_LOST_MS',
      `must be greater than PUSHFLOW_NODE_TTL_MS (${config.PUSHFLOW_NODE_TTL_MS}), got ${config.PUSHFLOW_NODE_LOST_MS}`,
    );
  }
  // Two renewals must fit in a lease: one late or failed renewal must not lose it.
  if (config.PUSHFLOW_PARTITION_RENEW_MS * 2 >= config.PUSHFLOW_PARTITION_LEASE_MS) {
    throw new ConfigError(
      'PUSHFLOW_PARTITION_RENEW_MS',
      `must be less than half of PUSHFLOW_PARTITION_LEASE_MS (${config.PUSHFLOW_PARTITION_LEASE_MS}), got ${config.PUSHFLOW_PARTITION_RENEW_MS}`,
    );
  }
  // "Well past" the claim idle time: claimed events may wait for a retry with backoff too.
  const minMemoryMs = COMMAND_MEMORY_CLAIM_FACTOR * config.PUSHFLOW_CLAIM_IDLE_MS;
  if (config.PUSHFLOW_COMMAND_MEMORY_SECONDS * 1000 < minMemoryMs) {
    throw new ConfigError(
      'PUSHFLOW_COMMAND_MEMORY_SECONDS',
      `must be at least ${COMMAND_MEMORY_CLAIM_FACTOR} times PUSHFLOW_CLAIM_IDLE_MS (${Math.ceil(minMemoryMs / 1000)} s), got ${config.PUSHFLOW_COMMAND_MEMORY_SECONDS}`,
    );
  }
  const schedule = parseRetrySchedule(config.PUSHFLOW_WEBHOOK_RETRY_SCHEDULE);
  if (schedule instanceof Error) throw new ConfigError('PUSHFLOW_WEBHOOK_RETRY_SCHEDULE', schedule.message);
  const inUrl = urlWriteConcern(config.MONGO_URL);
  if (inUrl !== undefined && inUrl !== config.PUSHFLOW_MONGO_WRITE_CONCERN) {
    throw new ConfigError(
      'PUSHFLOW_MONGO_WRITE_CONCERN',
      `is ${config.PUSHFLOW_MONGO_WRITE_CONCERN} but MONGO_URL asks for w=${inUrl}; set the write concern here only (or make them agree)`,
    );
  }
  return config;
}

/** The `w=` option of a connection string; a regex, as `new URL` rejects multi-host lists. */
function urlWriteConcern(url: string): string | undefined {
  const value = /[?&]w=([^&#]*)/i.exec(url)?.[1];
  return value === undefined ? undefined : decodeURIComponent(value);
}

const COMMAND_MEMORY_CLAIM_FACTOR = 10;
