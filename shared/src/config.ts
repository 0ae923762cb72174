import { Type, type Static, type TObject, type TSchema } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';

/**
 * Settings come from the environment, are read once at start-up and validated against a
 * TypeBox schema whose property names are the variable names. A wrong value stops the
 * service with a message that names the variable.
 */
export class ConfigError extends Error {
  readonly code = 'PUSHFLOW_CONFIG_INVALID';
  constructor(readonly variable: string, detail: string) {
    super(`${variable}: ${detail}`);
    this.name = 'ConfigError';
  }
}

export function loadConfig<T extends TObject>(schema: T, env: NodeJS.ProcessEnv = process.env): Static<T> {
  const out: Record<string, unknown> = {};
  for (const [name, prop] of Object.entries(schema.properties) as [string, TSchema][]) {
    const raw = env[name];
    if (raw === undefined || raw === '') {
      if (prop.default !== undefined) out[name] = prop.default;
      else if (!isOptional(schema, name)) throw new ConfigError(name, 'is required but not set');
      continue;
    }
    const value = Value.Convert(prop, raw);
    const error = Value.Errors(prop, value).First();
    if (error) throw new ConfigError(name, `${error.message} (got ${JSON.stringify(redact(name, raw))})`);
    out[name] = value;
  }
  return out as Static<T>;
}

/** Loads config or stops the process with a one-line message naming the bad variable. */
export function loadConfigOrExit<T extends TObject>(service: string, schema: T): Static<T> {
  try {
    return loadConfig(schema);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(`${service}: invalid configuration: ${err.message}\n`);
    process.exit(78); // EX_CONFIG
  }
}

function isOptional(schema: TObject, name: string): boolean {
  return !(schema.required ?? []).includes(name);
}

function redact(name: string, raw: string): string {
  return /SECRET|KEY|PASSWORD|TOKEN/.test(name) ? '<redacted>' : raw;
}

/** Variables several services read; each service picks the ones it uses. */
export const common = {
  REDIS_URL: Type.String({ default: 'redis://127.0.0.1:6379', pattern: '^rediss?://' }),
  MONGO_URL: Type.String({ default: 'mongodb://127.0.0.1:27017/pushflow', pattern: '^mongodb(\\+srv)?://' }),
  PUSHFLOW_REDIS_PREFIX: Type.String({ default: 'pushflow:', pattern: '^[A-Za-z0-9_.:-]*$', maxLength: 64 }),
  PUSHFLOW_CONNECT_SECRET: Type.String({ minLength: 32, description: 'HS256 secret, at least 32 bytes' }),
  LOG_LEVEL: Type.Union(
    ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].map((l) => Type.Literal(l)),
    { default: 'info' },
  ),
  /** Entries pending this long with another consumer are claimed: that consumer is presumed dead. */
  PUSHFLOW_CLAIM_IDLE_MS: Type.Integer({ minimum: 100, maximum: 3_600_000, default: 30_000 }),
  /** Failed handling attempts before an entry is dead-lettered (see consumer.ts). */
  PUSHFLOW_MAX_ATTEMPTS: Type.Integer({ minimum: 1, maximum: 1000, default: 5 }),
  port: (fallback: number) => Type.Integer({ minimum: 0, maximum: 65535, default: fallback }),
  millis: (fallback: number) => Type.Integer({ minimum: 1, maximum: 3_600_000, default: fallback }),
};
