import { Type, type Static } from '@sinclair/typebox';
import { common, CONTENT_CEILINGS, ConfigError, DEFAULT_CONTENT_LIMITS, loadConfig, type ContentLimits } from '@pushflow/shared';
import type { RateLimitSettings } from './rate-limit.ts';

export const SERVICE = 'gateway';

/** Whatever PUSHFLOW_HTTP_BODY_LIMIT_BYTES says, a request body is never read past this. */
export const BODY_LIMIT_CEILING_BYTES = 1_048_576;

/**
 * POST /notifications/batch: at most this many notifications, and a body never read past
 * the byte ceiling. A batch is parsed whole in memory and appended as one stream entry per
 * partition, so both stay bounded whatever the settings say.
 */
export const BATCH_SIZE_CEILING = 10_000;
export const BATCH_BODY_LIMIT_CEILING_BYTES = 33_554_432;

const limit = (fallback: number, ceiling: number, minimum = 1) => Type.Integer({ minimum, maximum: ceiling, default: fallback });

/** Property names are the environment variable names (docs/configuration.md, "Settings"). */
export const GatewayConfigSchema = Type.Object({
  GATEWAY_PORT: common.port(3000),
  GATEWAY_HOST: Type.String({ default: '0.0.0.0', minLength: 1 }),
  PUSHFLOW_API_KEYS: Type.String({ minLength: 16, description: 'Comma-separated API keys, each at least 16 characters' }),
  PUSHFLOW_CONNECT_SECRET: common.PUSHFLOW_CONNECT_SECRET,
  PUSHFLOW_CONNECT_SECRET_ID: common.PUSHFLOW_CONNECT_SECRET_ID,
  REDIS_URL: common.REDIS_URL,
  PUSHFLOW_REDIS_PREFIX: common.PUSHFLOW_REDIS_PREFIX,
  PUSHFLOW_PARTITIONS: common.PUSHFLOW_PARTITIONS,
  PUSHFLOW_ENTRY_FORMAT: common.PUSHFLOW_ENTRY_FORMAT,
  LOG_LEVEL: common.LOG_LEVEL,
  PUSHFLOW_METRICS_TOKEN: common.PUSHFLOW_METRICS_TOKEN,
  /** The dashboard calls a node alive while the dispatchers still route to it. */
  PUSHFLOW_NODE_TTL_MS: common.PUSHFLOW_NODE_TTL_MS,
  PUSHFLOW_REPLY_TIMEOUT_MS: common.millis(5000),
  PUSHFLOW_MAX_TOKEN_TTL_SECONDS: common.PUSHFLOW_MAX_TOKEN_TTL_SECONDS,
  /** Set: the connect tokens the gateway signs carry it as `aud`. */
  PUSHFLOW_TOKEN_AUDIENCE: Type.Optional(Type.String({ minLength: 1, maxLength: 256 })),
  PUSHFLOW_HTTP_BODY_LIMIT_BYTES: limit(65_536, BODY_LIMIT_CEILING_BYTES, 1024),
  PUSHFLOW_MAX_BATCH_SIZE: limit(1000, BATCH_SIZE_CEILING),
  /** 4 MiB: a thousand notifications of 4 KiB each. */
  PUSHFLOW_MAX_BATCH_BODY_BYTES: limit(4_194_304, BATCH_BODY_LIMIT_CEILING_BYTES, 1024),
  /**
   * What serves the port: `uws` (uWebSockets.js, with a fast path for POST /notifications
   * that skips Node's HTTP; uws-front.ts) or `node` (Fastify on Node's HTTP). uWS closes an
   * HTTP connection idle for 10 s, so a proxy in front must close idle ones sooner.
   */
  PUSHFLOW_HTTP_SERVER: Type.Union([Type.Literal('uws'), Type.Literal('node')], { default: 'uws' }),
  /** One info line per request (method, URL, status, time); off by default, as it costs more CPU than the request. */
  PUSHFLOW_ACCESS_LOG: Type.Boolean({ default: false }),
  PUSHFLOW_MAX_RECIPIENT_ID_LENGTH: common.PUSHFLOW_MAX_RECIPIENT_ID_LENGTH,
  PUSHFLOW_MAX_TITLE_LENGTH: limit(DEFAULT_CONTENT_LIMITS.titleLength, CONTENT_CEILINGS.titleLength),
  PUSHFLOW_MAX_BODY_LENGTH: limit(DEFAULT_CONTENT_LIMITS.bodyLength, CONTENT_CEILINGS.bodyLength),
  PUSHFLOW_MAX_DATA_BYTES: limit(DEFAULT_CONTENT_LIMITS.dataBytes, CONTENT_CEILINGS.dataBytes, 2),
  PUSHFLOW_MAX_DATA_DEPTH: limit(DEFAULT_CONTENT_LIMITS.dataDepth, CONTENT_CEILINGS.dataDepth),
  /** Per API key, across all gateways (the budget lives in Redis); 0 turns limiting off. */
  PUSHFLOW_RATE_LIMIT_PER_SECOND: Type.Integer({ minimum: 0, maximum: 1_000_000, default: 1000 }),
  PUSHFLOW_RATE_LIMIT_BURST: Type.Integer({ minimum: 1, maximum: 10_000_000, default: 2000 }),
});

export type GatewayConfig = Static<typeof GatewayConfigSchema> & { apiKeys: string[] };

export const MIN_API_KEY_LENGTH = 16;

export function loadGatewayConfig(env: NodeJS.ProcessEnv = process.env): GatewayConfig {
  const raw = loadConfig(GatewayConfigSchema, env);
  return { ...raw, apiKeys: parseApiKeys(raw.PUSHFLOW_API_KEYS) };
}

export function parseApiKeys(value: string): string[] {
  const parts = value.split(',').map((k) => k.trim());
  // The message never quotes a key: it is a secret.
  parts.forEach((key, i) => {
    if (key.length < MIN_API_KEY_LENGTH) {
      throw new ConfigError(
        'PUSHFLOW_API_KEYS',
        `key #${i + 1} is ${key.length} characters; each key needs at least ${MIN_API_KEY_LENGTH}`,
      );
    }
  });
  return [...new Set(parts)];
}

type LimitSettings = Pick<
  GatewayConfig,
  | 'PUSHFLOW_MAX_RECIPIENT_ID_LENGTH'
  | 'PUSHFLOW_MAX_TITLE_LENGTH'
  | 'PUSHFLOW_MAX_BODY_LENGTH'
  | 'PUSHFLOW_MAX_DATA_BYTES'
  | 'PUSHFLOW_MAX_DATA_DEPTH'
>;

export function contentLimits(config: LimitSettings): ContentLimits {
  return {
    recipientIdLength: config.PUSHFLOW_MAX_RECIPIENT_ID_LENGTH,
    titleLength: config.PUSHFLOW_MAX_TITLE_LENGTH,
    bodyLength: config.PUSHFLOW_MAX_BODY_LENGTH,
    dataBytes: config.PUSHFLOW_MAX_DATA_BYTES,
    dataDepth: config.PUSHFLOW_MAX_DATA_DEPTH,
  };
}

export interface BatchLimits {
  /** Notifications a batch may hold. */
  maxItems: number;
  bodyLimitBytes: number;
}

/**
 * A batch spends one unit of the rate limit per notification, so one larger than the burst
 * could never pass: with limiting on, the burst caps the batch size too, and such a batch
 * is a 400 that says the maximum instead of a 429 that retrying never fixes.
 */
export function batchLimits(
  config: Pick<
    GatewayConfig,
    'PUSHFLOW_MAX_BATCH_SIZE' | 'PUSHFLOW_MAX_BATCH_BODY_BYTES' | 'PUSHFLOW_RATE_LIMIT_PER_SECOND' | 'PUSHFLOW_RATE_LIMIT_BURST'
  >,
): BatchLimits {
  const limited = config.PUSHFLOW_RATE_LIMIT_PER_SECOND > 0;
  return {
    maxItems: limited ? Math.min(config.PUSHFLOW_MAX_BATCH_SIZE, config.PUSHFLOW_RATE_LIMIT_BURST) : config.PUSHFLOW_MAX_BATCH_SIZE,
    bodyLimitBytes: config.PUSHFLOW_MAX_BATCH_BODY_BYTES,
  };
}

export function rateLimitSettings(
  config: Pick<GatewayConfig, 'PUSHFLOW_RATE_LIMIT_PER_SECOND' | 'PUSHFLOW_RATE_LIMIT_BURST'>,
): RateLimitSettings {
  return { perSecond: config.PUSHFLOW_RATE_LIMIT_PER_SECOND, burst: config.PUSHFLOW_RATE_LIMIT_BURST };
}
