import { hostname } from 'node:os';
import { Type, type Static } from '@sinclair/typebox';
import { KEY_ID_PATTERN, MAX_CLOCK_SKEW_SECONDS, common, loadConfig, loadConfigOrExit } from '@pushflow/shared';
import { connectKeySources } from './connect-key-settings.ts';
import { ORIGIN_LIST_PATTERN } from './origins.ts';

// A key id, then the secret: at least 32 bytes, no comma (the list's separator).
const EXTRA_SECRET = `${KEY_ID_PATTERN.slice(1, -1)}:[^,]{32,}`;

/** Property names are the environment variable names (docs/configuration.md, "Settings"). */
export const DeliveryConfigSchema = Type.Object({
  DELIVERY_PORT: common.port(8080),
  DELIVERY_HOST: Type.String({ default: '0.0.0.0', minLength: 1 }),
  // Host names may hold characters Redis key patterns and our id pattern do not allow.
  PUSHFLOW_NODE_ID: Type.String({
    default: `${hostname().replace(/[^A-Za-z0-9_.-]/g, '_')}-${process.pid}`,
    pattern: '^[A-Za-z0-9_.-]+$',
    maxLength: 128,
  }),
  PUSHFLOW_CONNECT_SECRET: common.PUSHFLOW_CONNECT_SECRET,
  PUSHFLOW_CONNECT_SECRET_ID: common.PUSHFLOW_CONNECT_SECRET_ID,
  /** More HS256 secrets tokens may be signed with, `kid:secret` comma-separated: a rotation's old one. */
  PUSHFLOW_CONNECT_EXTRA_SECRETS: Type.Optional(Type.String({ pattern: `^${EXTRA_SECRET}(,${EXTRA_SECRET})*$`, maxLength: 16 * 1024 })),
  /** An identity provider's public key (PEM): RSA (RS256), P-256 (ES256) or Ed25519 (EdDSA). */
  PUSHFLOW_CONNECT_PUBLIC_KEY: Type.Optional(Type.String({ pattern: '-----BEGIN PUBLIC KEY-----', maxLength: 16 * 1024 })),
  PUSHFLOW_CONNECT_PUBLIC_KEY_ID: Type.Optional(Type.String({ pattern: KEY_ID_PATTERN, maxLength: 64 })),
  /** An identity provider's JWKS, fetched and cached (jose: 10 min, refetched for an unknown kid at most every 30 s). */
  PUSHFLOW_CONNECT_JWKS_URL: Type.Optional(Type.String({ pattern: '^https?://[^\\s]+$', maxLength: 2048 })),
  REDIS_URL: common.REDIS_URL,
  PUSHFLOW_REDIS_PREFIX: common.PUSHFLOW_REDIS_PREFIX,
  PUSHFLOW_PARTITIONS: common.PUSHFLOW_PARTITIONS,
  PUSHFLOW_ENTRY_FORMAT: common.PUSHFLOW_ENTRY_FORMAT,
  LOG_LEVEL: common.LOG_LEVEL,
  PUSHFLOW_METRICS_TOKEN: common.PUSHFLOW_METRICS_TOKEN,
  PUSHFLOW_HEARTBEAT_MS: common.millis(2000),
  PUSHFLOW_MAX_FRAME_BYTES: Type.Integer({ minimum: 64, maximum: 16 * 1024 * 1024, default: 16 * 1024 }),
  PUSHFLOW_MAX_BACKPRESSURE_BYTES: Type.Integer({ minimum: 1024, maximum: 1024 * 1024 * 1024, default: 1024 * 1024 }),
  // A socket the node closes (4010, 4003) gets this long to read what it holds before its
  // close frame. At most 40: uWS's 60 s idle timeout pings a silent client at 44 s and drops
  // it at 60, and a client that is not reading is silent.
  PUSHFLOW_CLOSE_TIMEOUT_SECONDS: Type.Integer({ minimum: 1, maximum: 40, default: 30 }),
  PUSHFLOW_BATCH_SIZE: Type.Integer({ minimum: 1, maximum: 10_000, default: 500 }),
  /** When set, connect tokens must carry it in `aud`. */
  PUSHFLOW_TOKEN_AUDIENCE: Type.Optional(Type.String({ minLength: 1, maxLength: 256 })),
  PUSHFLOW_TOKEN_CLOCK_SKEW_SECONDS: Type.Integer({ minimum: 0, maximum: MAX_CLOCK_SKEW_SECONDS, default: 30 }),
  PUSHFLOW_MAX_TOKEN_TTL_SECONDS: common.PUSHFLOW_MAX_TOKEN_TTL_SECONDS,
  PUSHFLOW_MAX_RECIPIENT_ID_LENGTH: common.PUSHFLOW_MAX_RECIPIENT_ID_LENGTH,
  /** Comma-separated origin patterns (see origins.ts); empty: same host as the Host header only. */
  PUSHFLOW_ALLOWED_ORIGINS: Type.String({ default: '', pattern: ORIGIN_LIST_PATTERN, maxLength: 4096 }),
  PUSHFLOW_MAX_CONNECTIONS: Type.Integer({ minimum: 1, maximum: 10_000_000, default: 100_000 }),
  PUSHFLOW_MAX_CONNECTIONS_PER_RECIPIENT: Type.Integer({ minimum: 1, maximum: 100_000, default: 16 }),
  PUSHFLOW_MAX_CLIENT_MESSAGES_PER_SECOND: Type.Integer({ minimum: 1, maximum: 100_000, default: 50 }),
});

export type DeliveryConfig = Static<typeof DeliveryConfigSchema>;

export function loadDeliveryConfig(): DeliveryConfig {
  return loadConfigOrExit('delivery', () => checkedDeliveryConfig(process.env));
}

/** The settings, with the connect keys they name checked too (a bad PEM names its variable). */
export function checkedDeliveryConfig(env: NodeJS.ProcessEnv): DeliveryConfig {
  const config = loadConfig(DeliveryConfigSchema, env);
  connectKeySources(config);
  return config;
}
