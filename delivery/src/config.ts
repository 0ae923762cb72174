import { hostname } from 'node:os';
import { Type, type Static } from '@sinclair/typebox';
import { common, loadConfigOrExit } from '@pushflow/shared';

/** Property names are the environment variable names (DESIGN.md, "Configuration"). */
export const deliveryConfigSchema = Type.Object({
  DELIVERY_PORT: common.port(8080),
  DELIVERY_HOST: Type.String({ default: '0.0.0.0', minLength: 1 }),
  // Host names may hold characters Redis key patterns and our id pattern do not allow.
  PUSHFLOW_NODE_ID: Type.String({
    default: `${hostname().replace(/[^A-Za-z0-9_.-]/g, '_')}-${process.pid}`,
    pattern: '^[A-Za-z0-9_.-]+$',
    maxLength: 128,
  }),
  PUSHFLOW_CONNECT_SECRET: common.PUSHFLOW_CONNECT_SECRET,
  REDIS_URL: common.REDIS_URL,
  PUSHFLOW_REDIS_PREFIX: common.PUSHFLOW_REDIS_PREFIX,
  LOG_LEVEL: common.LOG_LEVEL,
  PUSHFLOW_HEARTBEAT_MS: common.millis(2000),
  PUSHFLOW_MAX_FRAME_BYTES: Type.Integer({ minimum: 64, maximum: 16 * 1024 * 1024, default: 16 * 1024 }),
  PUSHFLOW_MAX_BACKPRESSURE_BYTES: Type.Integer({ minimum: 1024, maximum: 1024 * 1024 * 1024, default: 1024 * 1024 }),
  PUSHFLOW_BATCH_SIZE: Type.Integer({ minimum: 1, maximum: 10_000, default: 500 }),
});

export type DeliveryConfig = Static<typeof deliveryConfigSchema>;

export function loadDeliveryConfig(): DeliveryConfig {
  return loadConfigOrExit('delivery', deliveryConfigSchema);
}
