import { Type, type Static } from '@sinclair/typebox';
import { common, ConfigError, loadConfig } from '@pushflow/shared';

export const SERVICE = 'gateway';

/** Property names are the environment variable names (DESIGN.md, "Configuration"). */
export const GatewayConfigSchema = Type.Object({
  GATEWAY_PORT: common.port(3000),
  GATEWAY_HOST: Type.String({ default: '0.0.0.0', minLength: 1 }),
  PUSHFLOW_API_KEYS: Type.String({ minLength: 16, description: 'Comma-separated API keys, each at least 16 characters' }),
  PUSHFLOW_CONNECT_SECRET: common.PUSHFLOW_CONNECT_SECRET,
  REDIS_URL: common.REDIS_URL,
  PUSHFLOW_REDIS_PREFIX: common.PUSHFLOW_REDIS_PREFIX,
  LOG_LEVEL: common.LOG_LEVEL,
  PUSHFLOW_REPLY_TIMEOUT_MS: common.millis(5000),
  PUSHFLOW_MAX_TOKEN_TTL_SECONDS: Type.Integer({ minimum: 1, maximum: 31_536_000, default: 86_400 }),
});

export type GatewayConfig = Static<typeof GatewayConfigSchema> & { apiKeys: string[] };

export const MIN_API_KEY_LENGTH = 16;

export function loadGatewayConfig(env: NodeJS.ProcessEnv = process.env): GatewayConfig {
  const raw = loadConfig(GatewayConfigSchema, env);
  return { ...raw, apiKeys: parseApiKeys(raw.PUSHFLOW_API_KEYS) };
}

/** Like loadConfigOrExit, but also covers the checks the schema cannot express. */
export function loadGatewayConfigOrExit(): GatewayConfig {
  try {
    return loadGatewayConfig();
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(`${SERVICE}: invalid configuration: ${err.message}\n`);
    process.exit(78); // EX_CONFIG, as loadConfigOrExit
  }
}

export function parseApiKeys(value: string): string[] {
  const parts = value.split(',').map((k) => k.trim());
  // The message never quotes a key: it is a secret.
  parts.forEach((key, i) => {
    if (key.length < MIN_API_KEY_LENGTH) {
      throw new ConfigError('PUSHFLOW_API_KEYS', `key #${i + 1} is ${key.length} characters; each key needs at least ${MIN_API_KEY_LENGTH}`);
    }
  });
  return [...new Set(parts)];
}
