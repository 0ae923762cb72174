import { createPublicKey } from 'node:crypto';
import { ConfigError, type ConnectKeySources, type PublicKeyAlgorithm } from '@pushflow/shared';

/**
 * The connect-token keys a node's settings name (docs/api.md, "Signing connect tokens yourself"),
 * checked when the config is read, so a bad key stops the node at start with the variable
 * named, not at the first client.
 */
export interface ConnectKeySettings {
  PUSHFLOW_CONNECT_SECRET: string;
  PUSHFLOW_CONNECT_SECRET_ID?: string | undefined;
  PUSHFLOW_CONNECT_EXTRA_SECRETS?: string | undefined;
  PUSHFLOW_CONNECT_PUBLIC_KEY?: string | undefined;
  PUSHFLOW_CONNECT_PUBLIC_KEY_ID?: string | undefined;
  PUSHFLOW_CONNECT_JWKS_URL?: string | undefined;
}

export function connectKeySources(config: ConnectKeySettings): ConnectKeySources {
  const secrets = [{ secret: config.PUSHFLOW_CONNECT_SECRET, ...kid(config.PUSHFLOW_CONNECT_SECRET_ID) }];
  for (const entry of config.PUSHFLOW_CONNECT_EXTRA_SECRETS?.split(',') ?? []) {
    // The schema's pattern holds every entry to `kid:secret`; the kid never has a colon.
    const at = entry.indexOf(':');
    secrets.push({ kid: entry.slice(0, at), secret: entry.slice(at + 1) });
  }
  const pem = config.PUSHFLOW_CONNECT_PUBLIC_KEY;
  return {
    secrets,
    ...(pem ? { publicKeys: [{ pem, alg: algorithmOf(pem), ...kid(config.PUSHFLOW_CONNECT_PUBLIC_KEY_ID) }] } : {}),
    ...(config.PUSHFLOW_CONNECT_JWKS_URL ? { jwksUrl: config.PUSHFLOW_CONNECT_JWKS_URL } : {}),
  };
}

/**
 * The one algorithm a public key is accepted with, from the key itself, so a setting cannot
 * pair a key with an algorithm it was not made for: RSA signs RS256, P-256 ES256, Ed25519 EdDSA.
 */
export function algorithmOf(pem: string): PublicKeyAlgorithm {
  let key: ReturnType<typeof createPublicKey>;
  try {
    key = createPublicKey(pem);
  } catch {
    throw new ConfigError('PUSHFLOW_CONNECT_PUBLIC_KEY', 'is not a PEM public key (-----BEGIN PUBLIC KEY-----)');
  }
  const type = key.asymmetricKeyType;
  if (type === 'rsa' && (key.asymmetricKeyDetails?.modulusLength ?? 0) >= 2048) return 'RS256';
  if (type === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'prime256v1') return 'ES256';
  if (type === 'ed25519') return 'EdDSA';
  throw new ConfigError('PUSHFLOW_CONNECT_PUBLIC_KEY', 'must be an RSA key of at least 2048 bits, an EC P-256 key or an Ed25519 key');
}

function kid(id: string | undefined): { kid?: string } {
  return id ? { kid: id } : {};
}
