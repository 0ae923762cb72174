import { createRemoteJWKSet, errors, importSPKI, type CryptoKey, type JWSHeaderParameters } from 'jose';

/**
 * The keys connect tokens may be verified with (docs/api.md, "Signing connect tokens yourself"): HS256
 * secrets, each with an optional key id, so the secret can rotate without dropping clients;
 * public keys from PEM; and a JWKS URL, fetched and cached by jose, so an identity provider
 * can mint the tokens. Every key is bound to its one algorithm: a token is tried only with
 * keys of the algorithm its header names, so `alg: none` finds none, and an HS256 token is
 * never checked against a public key's bytes (the algorithm confusion attack).
 */
export const PUBLIC_KEY_ALGORITHMS = ['RS256', 'ES256', 'EdDSA'] as const;
export type PublicKeyAlgorithm = (typeof PUBLIC_KEY_ALGORITHMS)[number];

export type VerifyKey = { alg: 'HS256'; kid?: string; key: Uint8Array } | { alg: PublicKeyAlgorithm; kid?: string; key: CryptoKey };

export interface ConnectKeys {
  /**
   * The keys to try for a token with this header: those of its algorithm, and of those the
   * one its `kid` names when it has one. Empty when none fits.
   */
  keysFor(header: JWSHeaderParameters): Promise<VerifyKey[]>;
}

export interface ConnectKeySources {
  /** HS256 secrets; a `kid` lets a token name its secret. */
  secrets: { secret: string; kid?: string }[];
  publicKeys?: { pem: string; alg: PublicKeyAlgorithm; kid?: string }[];
  /** An identity provider's JWKS: fetched on first use, cached, refetched for an unknown `kid`. */
  jwksUrl?: string;
  /** jose's cache settings for the JWKS (ms); the defaults are jose's: 10 min, 30 s. */
  jwksCacheMaxAgeMs?: number;
  jwksCooldownMs?: number;
}

export async function createConnectKeys(sources: ConnectKeySources): Promise<ConnectKeys> {
  const encoder = new TextEncoder();
  const secrets: VerifyKey[] = sources.secrets.map(({ secret, kid }) => ({
    alg: 'HS256',
    key: encoder.encode(secret),
    ...(kid ? { kid } : {}),
  }));
  const publicKeys: VerifyKey[] = await Promise.all(
    (sources.publicKeys ?? []).map(async ({ pem, alg, kid }) => ({ alg, key: await importSPKI(pem, alg), ...(kid ? { kid } : {}) })),
  );
  const jwks = sources.jwksUrl
    ? createRemoteJWKSet(new URL(sources.jwksUrl), {
        ...(sources.jwksCacheMaxAgeMs !== undefined ? { cacheMaxAge: sources.jwksCacheMaxAgeMs } : {}),
        ...(sources.jwksCooldownMs !== undefined ? { cooldownDuration: sources.jwksCooldownMs } : {}),
      })
    : undefined;

  return {
    async keysFor(header) {
      const { alg, kid } = header;
      const named = (k: VerifyKey) => k.alg === alg && (kid === undefined || k.kid === kid);
      if (alg === 'HS256') return secrets.filter(named);
      if (!isPublicKeyAlgorithm(alg)) return [];
      const found = publicKeys.filter(named);
      if (jwks) found.push(...(await fromJwks(jwks, header, alg)));
      return found;
    },
  };
}

export function isPublicKeyAlgorithm(alg: unknown): alg is PublicKeyAlgorithm {
  return (PUBLIC_KEY_ALGORITHMS as readonly unknown[]).includes(alg);
}

/** jose picks the JWKS keys of the header's algorithm and kid; several matching are all tried. */
async function fromJwks(
  jwks: ReturnType<typeof createRemoteJWKSet>,
  header: JWSHeaderParameters,
  alg: PublicKeyAlgorithm,
): Promise<VerifyKey[]> {
  try {
    return [{ alg, key: await jwks(header) }];
  } catch (err) {
    if (err instanceof errors.JWKSNoMatchingKey) return [];
    if (err instanceof errors.JWKSMultipleMatchingKeys) {
      const keys: VerifyKey[] = [];
      for await (const key of err) keys.push({ alg, key });
      return keys;
    }
    throw err;
  }
}
