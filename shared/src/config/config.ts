import { Type, type Static, type TObject, type TSchema } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { CONTENT_CEILINGS, DEFAULT_CONTENT_LIMITS } from '../domain/schemas.ts';
import { ConfigError } from './config-error.ts';
import { checkProductionSecrets, deploymentEnv, DEPLOYMENT_ENVS, type ConfigWarning } from './production-secrets.ts';
import { readSecretFiles } from './secret-files.ts';
import { withoutCredentials } from './url-credentials.ts';

export { ConfigError } from './config-error.ts';

/**
 * Settings come from the environment, are read once at start-up and validated against a
 * TypeBox schema whose property names are the variable names. A wrong value stops the
 * service with a message that names the variable. For every variable of the schema,
 * `<VAR>_FILE` may name a file holding the value instead (secret-files.ts), and with
 * PUSHFLOW_ENV=production development secrets are refused (production-secrets.ts).
 */
export interface LoadConfigOptions {
  /** Where warnings go; by default one line each on stderr. */
  warn?: (warning: ConfigWarning) => void;
}

export function loadConfig<T extends TObject>(schema: T, given: NodeJS.ProcessEnv = process.env, opts: LoadConfigOptions = {}): Static<T> {
  const { env, fromFiles } = readSecretFiles(Object.keys(schema.properties), given);
  const mode = deploymentEnv(env);
  const out: Record<string, unknown> = {};
  for (const [name, prop] of Object.entries(schema.properties) as [string, TSchema][]) {
    const raw = env[name];
    if (raw === undefined || raw === '') {
      if (prop.default !== undefined) out[name] = prop.default;
      else if (!isOptional(schema, name)) throw new ConfigError(name, 'is required but not set');
      continue;
    }
    // Value.Convert truncates "1.5" to 1 for an integer: a typo must not become a setting.
    if (prop.type === 'integer' && !/^\s*-?\d+\s*$/.test(raw)) {
      throw new ConfigError(name, `Expected integer (got ${JSON.stringify(redact(name, raw, fromFiles))})`);
    }
    const value = Value.Convert(prop, raw);
    const error = Value.Errors(prop, value).First();
    if (error) throw new ConfigError(name, `${error.message} (got ${JSON.stringify(redact(name, raw, fromFiles))})`);
    out[name] = value;
  }
  if (mode === 'production') {
    for (const warning of checkProductionSecrets(out)) (opts.warn ?? warnOnStderr)(warning);
  }
  return out as Static<T>;
}

function warnOnStderr({ variable, message }: ConfigWarning): void {
  process.stderr.write(`configuration warning: ${variable}: ${message}\n`);
}

/**
 * Stops the process as a wrong setting does: one line saying what to fix, and exit status
 * 78 (EX_CONFIG) rather than 1, so that a supervisor or a person can tell a deployment
 * that cannot work as configured from a crash worth restarting.
 */
export function exitForConfig(service: string, message: string): never {
  process.stderr.write(`${service}: ${message}\n`);
  process.exit(78);
}

/**
 * A schema is loaded with loadConfig; a function is called, for a service whose settings
 * need checks a schema cannot express. A ConfigError stops the process with one line
 * naming the bad variable.
 */
export function loadConfigOrExit<T extends TObject>(service: string, schema: T): Static<T>;
export function loadConfigOrExit<C>(service: string, load: () => C): C;
export function loadConfigOrExit(service: string, source: TObject | (() => unknown)): unknown {
  try {
    return typeof source === 'function' ? source() : loadConfig(source);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    exitForConfig(service, `invalid configuration: ${err.message}`);
  }
}

function isOptional(schema: TObject, name: string): boolean {
  return !(schema.required ?? []).includes(name);
}

/** Secret-named variables and file-borne values are never echoed; URLs lose their credentials. */
function redact(name: string, raw: string, fromFiles: Set<string>): string {
  if (fromFiles.has(name) || /SECRET|KEY|PASSWORD|TOKEN/.test(name)) return '<redacted>';
  return /_URL$/.test(name) ? withoutCredentials(raw) : raw;
}

const millis = (fallback: number) => Type.Integer({ minimum: 1, maximum: 3_600_000, default: fallback });

/** A connect key id (`kid`): what PUSHFLOW_CONNECT_SECRET_ID and PUSHFLOW_CONNECT_EXTRA_SECRETS name keys with. */
export const KEY_ID_PATTERN = '^[A-Za-z0-9_.-]{1,64}$';

/** Variables several services read; each service picks the ones it uses. */
export const common = {
  /** One Redis, or `redis-cluster://[user:password@]host:port[,host:port...]` for a Redis Cluster (streams/redis.ts). */
  REDIS_URL: Type.String({
    default: 'redis://127.0.0.1:6379',
    pattern: '^(rediss?://|rediss?-cluster://([^@/?#]*@)?[A-Za-z0-9._-]+:[0-9]+(,[A-Za-z0-9._-]+:[0-9]+)*/?$)',
  }),
  MONGO_URL: Type.String({ default: 'mongodb://127.0.0.1:27017/pushflow', pattern: '^mongodb(\\+srv)?://' }),
  PUSHFLOW_REDIS_PREFIX: Type.String({ default: 'pushflow:', pattern: '^[A-Za-z0-9_.:-]*$', maxLength: 64 }),
  /**
   * How many partitions the commands and events streams are split into (streams/keys.ts). Every
   * service must run with the same value: streams/partitions.ts checks it against Redis at start.
   */
  PUSHFLOW_PARTITIONS: Type.Integer({ minimum: 1, maximum: 256, default: 1 }),
  /**
   * How this service appends to streams (streams/entries.ts): `batch`, one entry per batch, or
   * `single`, one message per entry, which services older than batches read; for a rolling
   * upgrade only. Every service reads both.
   */
  PUSHFLOW_ENTRY_FORMAT: Type.Union([Type.Literal('batch'), Type.Literal('single')], { default: 'batch' }),
  PUSHFLOW_CONNECT_SECRET: Type.String({ minLength: 32, description: 'HS256 secret, at least 32 bytes' }),
  /** The key id (`kid`) of PUSHFLOW_CONNECT_SECRET: the gateway puts it in the tokens it signs. */
  PUSHFLOW_CONNECT_SECRET_ID: Type.Optional(Type.String({ pattern: KEY_ID_PATTERN, maxLength: 64 })),
  /**
   * The longest-lived connect token the gateway signs, and the furthest `exp` a delivery node
   * accepts, whoever signed the token: a self-signed token must not outlive what the gateway
   * would give. Gateways and nodes must agree.
   */
  PUSHFLOW_MAX_TOKEN_TTL_SECONDS: Type.Integer({ minimum: 1, maximum: 31_536_000, default: 86_400 }),
  /** The longest recipient id the API takes, and the longest token `sub` a delivery node accepts. */
  PUSHFLOW_MAX_RECIPIENT_ID_LENGTH: Type.Integer({
    minimum: 1,
    maximum: CONTENT_CEILINGS.recipientIdLength,
    default: DEFAULT_CONTENT_LIMITS.recipientIdLength,
  }),
  /** loadConfig reads it for every service; a schema lists it only to see the value. */
  PUSHFLOW_ENV: Type.Union(
    DEPLOYMENT_ENVS.map((e) => Type.Literal(e)),
    { default: 'development' },
  ),
  LOG_LEVEL: Type.Union(
    ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].map((l) => Type.Literal(l)),
    { default: 'info' },
  ),
  /** Entries pending this long with another consumer are claimed: that consumer is presumed dead. */
  PUSHFLOW_CLAIM_IDLE_MS: Type.Integer({ minimum: 100, maximum: 3_600_000, default: 30_000 }),
  /** Failed handling attempts before an entry is dead-lettered (see streams/consumer.ts). */
  PUSHFLOW_MAX_ATTEMPTS: Type.Integer({ minimum: 1, maximum: 1000, default: 5 }),
  /** Set: /metrics answers only `Authorization: Bearer <token>` (observability/metrics-token.ts). */
  PUSHFLOW_METRICS_TOKEN: Type.Optional(Type.String({ minLength: 16, maxLength: 4096, pattern: '^\\S+$' })),
  /**
   * A delivery node whose heartbeat is older than this gets no new deliveries (the
   * dispatchers), and the dashboard shows it as not alive (the gateways).
   */
  PUSHFLOW_NODE_TTL_MS: millis(10_000),
  port: (fallback: number) => Type.Integer({ minimum: 0, maximum: 65535, default: fallback }),
  millis,
};
