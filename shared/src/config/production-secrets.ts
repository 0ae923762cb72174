import { ConfigError } from './config-error.ts';
import { urlCredentials } from './url-credentials.ts';

/**
 * PUSHFLOW_ENV=production: a service refuses to start with a secret that is a development
 * value. The repository's defaults (compose.yaml, .env.example, `make dev`, the test
 * harness) all carry the marker "dev-only", so a copied default cannot reach production
 * unnoticed; a few placeholders people type by hand are refused as well.
 */
export const DEPLOYMENT_ENVS = ['development', 'production'] as const;
export type DeploymentEnv = (typeof DEPLOYMENT_ENVS)[number];

export const DEV_ONLY_MARKER = 'dev-only';

/** Compared case-insensitively. The dev-only ones are listed too, as a second line of defence. */
export const KNOWN_DEVELOPMENT_SECRETS: readonly string[] = [
  // compose.yaml, .env.example, local-stack/stack.ts (also used by scripts/dev.ts and load/)
  'dev-only-api-key-change-me',
  'dev-only-connect-secret-change-me-0000000000',
  'dev-only-redis-password-change-me',
  'dev-only-mongo-password-change-me',
  // hand-typed placeholders
  'changeme',
  'change-me',
  'change_me',
  'password',
  'passw0rd',
  'secret',
  'admin',
  'root',
  'redis',
  'mongo',
  'mongodb',
  'pushflow',
  'example',
  'test',
  'default',
  '123456',
];
const known = new Set(KNOWN_DEVELOPMENT_SECRETS.map((s) => s.toLowerCase()));

export interface ConfigWarning {
  variable: string;
  message: string;
}

/** PUSHFLOW_ENV, `development` when unset. */
export function deploymentEnv(env: NodeJS.ProcessEnv): DeploymentEnv {
  const raw = env.PUSHFLOW_ENV;
  if (raw === undefined || raw === '') return 'development';
  if ((DEPLOYMENT_ENVS as readonly string[]).includes(raw)) return raw as DeploymentEnv;
  throw new ConfigError('PUSHFLOW_ENV', `must be development or production (got ${JSON.stringify(raw)})`);
}

/** Why a secret is a development value, or undefined when it is not one. */
export function developmentValue(secret: string): string | undefined {
  if (secret.toLowerCase().includes(DEV_ONLY_MARKER)) return `contains "${DEV_ONLY_MARKER}"`;
  if (known.has(secret.toLowerCase())) return 'is a well-known default';
  return undefined;
}

type Rule = (variable: string, value: string) => string | undefined;

/** Each returns a warning or throws; only the variables a service's schema has are checked. */
const RULES: Record<string, Rule> = {
  PUSHFLOW_API_KEYS: (variable, value) => {
    value.split(',').forEach((key, i) => {
      refuse(variable, key.trim(), `key #${i + 1}`);
    });
    return undefined;
  },
  PUSHFLOW_CONNECT_SECRET: (variable, value) => {
    refuse(variable, value, 'the secret');
    return undefined;
  },
  PUSHFLOW_CONNECT_EXTRA_SECRETS: (variable, value) => {
    value.split(',').forEach((entry, i) => {
      refuse(variable, entry.slice(entry.indexOf(':') + 1), `secret #${i + 1}`);
    });
    return undefined;
  },
  PUSHFLOW_METRICS_TOKEN: (variable, value) => {
    refuse(variable, value, 'the token');
    return undefined;
  },
  REDIS_URL: backendUrl,
  MONGO_URL: backendUrl,
};

/**
 * Throws a ConfigError for the first development secret among `values`; returns warnings
 * for connections without a password. Messages never quote a secret.
 */
export function checkProductionSecrets(values: Record<string, unknown>): ConfigWarning[] {
  const warnings: ConfigWarning[] = [];
  for (const [variable, rule] of Object.entries(RULES)) {
    const value = values[variable];
    if (typeof value !== 'string') continue;
    const message = rule(variable, value);
    if (message) warnings.push({ variable, message });
  }
  return warnings;
}

/**
 * No password is a warning, not an error: a server may authenticate the connection another
 * way (TLS client certificates, MongoDB X.509 or AWS IAM, a private network or an
 * authenticating proxy), and the URL cannot tell.
 */
function backendUrl(variable: string, value: string): string | undefined {
  const password = urlCredentials(value)?.password ?? '';
  if (password !== '') {
    refuse(variable, password, 'the password in the URL');
    return undefined;
  }
  if (/[?&]authMechanism=/i.test(value)) return undefined;
  return (
    'carries no password, so the connection is not authenticated; fine only if the server ' +
    'authenticates it another way (TLS client certificate, private network), otherwise set one'
  );
}

function refuse(variable: string, secret: string, what: string): void {
  const why = developmentValue(secret);
  if (why) {
    throw new ConfigError(
      variable,
      `${what} ${why}: a development value, refused with PUSHFLOW_ENV=production; generate a real one (e.g. openssl rand -hex 32)`,
    );
  }
}
