import { hostname } from 'node:os';
import { Type, type Static } from '@sinclair/typebox';
import { common } from '@pushflow/shared';

export const DispatcherConfig = Type.Object({
  REDIS_URL: common.REDIS_URL,
  MONGO_URL: common.MONGO_URL,
  PUSHFLOW_REDIS_PREFIX: common.PUSHFLOW_REDIS_PREFIX,
  LOG_LEVEL: common.LOG_LEVEL,
  DISPATCHER_HOST: Type.String({ default: '0.0.0.0' }),
  DISPATCHER_PORT: common.port(3001),
  /** Consumer name in the groups; stable across restarts lets a restart resume its own pending work. */
  PUSHFLOW_CONSUMER_ID: Type.String({ default: `${hostname()}-${process.pid}`, pattern: '^[A-Za-z0-9_.-]{1,128}$' }),
  PUSHFLOW_BATCH_SIZE: Type.Integer({ minimum: 1, maximum: 10_000, default: 500 }),
  PUSHFLOW_BLOCK_MS: common.millis(1000),
  /** A delivery node whose heartbeat is older than this gets no new deliveries. */
  PUSHFLOW_NODE_TTL_MS: common.millis(10_000),
});
export type DispatcherConfig = Static<typeof DispatcherConfig>;
