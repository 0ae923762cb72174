import { SignJWT, decodeProtectedHeader, errors, jwtVerify, type JWSHeaderParameters } from 'jose';
import { createConnectKeys, type ConnectKeys } from './connect-keys.ts';

/**
 * Connect tokens: compact JWTs (RFC 7519) with `sub` = recipient and `exp` required, signed
 * and verified with jose. Which algorithms and keys are accepted is the keyring's business
 * (connect-keys.ts); this holds the claims rules every algorithm shares.
 */
export interface ConnectClaims {
  sub: string;
  exp: number;
  iat?: number;
  nbf?: number;
  aud?: string | string[];
}

export type VerifyResult = { ok: true; claims: ConnectClaims } | { ok: false; error: 'TOKEN_INVALID' | 'TOKEN_EXPIRED' };

/** Clocks further apart than this are a deployment fault, not something to paper over. */
export const MAX_CLOCK_SKEW_SECONDS = 300;

/** Longer than any token we mint or an identity provider would: refused before any parsing. */
const MAX_TOKEN_LENGTH = 4096;

const encoder = new TextEncoder();

/** Signs an HS256 connect token, with `kid` in its header when given (a secret's key id). */
export async function signConnectToken(
  claims: { sub: string; exp: number; iat?: number; nbf?: number; aud?: string },
  secret: string,
  kid?: string,
): Promise<string> {
  return new SignJWT({ ...claims }).setProtectedHeader({ alg: 'HS256', typ: 'JWT', ...(kid ? { kid } : {}) }).sign(encoder.encode(secret));
}

/**
 * Verifies a token with every key the keyring offers for its header, stopping at the first
 * whose signature matches: a bad signature tries the next key, a bad claim ends it.
 * A plain string is taken as the one HS256 secret.
 */
export async function verifyConnectToken(
  token: string,
  keys: ConnectKeys | string,
  opts: { now?: number; clockSkewSeconds?: number; audience?: string } = {},
): Promise<VerifyResult> {
  const invalid = { ok: false, error: 'TOKEN_INVALID' } as const;
  if (token.length > MAX_TOKEN_LENGTH) return invalid;
  let header: JWSHeaderParameters;
  try {
    header = decodeProtectedHeader(token);
  } catch {
    return invalid;
  }
  const keyring = typeof keys === 'string' ? await createConnectKeys({ secrets: [{ secret: keys }] }) : keys;
  let candidates: Awaited<ReturnType<ConnectKeys['keysFor']>>;
  try {
    candidates = await keyring.keysFor(header);
  } catch {
    // The JWKS could not be fetched: the token cannot be checked, so it is not accepted.
    return invalid;
  }
  const skew = Math.min(Math.max(opts.clockSkewSeconds ?? 30, 0), MAX_CLOCK_SKEW_SECONDS);
  for (const { alg, key } of candidates) {
    try {
      const { payload } = await jwtVerify(token, key, {
        algorithms: [alg],
        clockTolerance: skew,
        currentDate: new Date(opts.now ?? Date.now()),
        requiredClaims: ['exp', 'sub'],
        ...(opts.audience !== undefined ? { audience: opts.audience } : {}),
      });
      // jose takes any number; JSON's 1e999 is Infinity, and an empty sub names nobody.
      if (typeof payload.sub !== 'string' || payload.sub === '' || !Number.isFinite(payload.exp)) return invalid;
      return { ok: true, claims: payload as unknown as ConnectClaims };
    } catch (err) {
      if (err instanceof errors.JWSSignatureVerificationFailed) continue;
      if (err instanceof errors.JWTExpired) return { ok: false, error: 'TOKEN_EXPIRED' };
      return invalid;
    }
  }
  return invalid;
}

/**
 * A token's claims read without verifying it: only for showing who a token is for (the
 * CLI's `listen`), never for deciding anything. Undefined when it is not a JWT.
 */
export function unverifiedClaims(token: string): Record<string, unknown> | undefined {
  try {
    const v: unknown = JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8'));
    return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}
