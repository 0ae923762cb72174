import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * Connect tokens: compact HS256 JWTs (RFC 7519) with `sub` = recipient and `exp` required.
 * Only HS256 is accepted, whatever the header asks for, so `alg: none` and key-confusion
 * tricks fail. Written against node:crypto to keep the one algorithm we accept in view.
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

const HEADER = b64url(JSON.stringify({ alg: 'HS256', typ: 'JWT' }));

export function signConnectToken(claims: { sub: string; exp: number; iat?: number; nbf?: number; aud?: string }, secret: string): string {
  const payload = b64url(JSON.stringify(claims));
  return `${HEADER}.${payload}.${mac(`${HEADER}.${payload}`, secret)}`;
}

export function verifyConnectToken(
  token: string,
  secret: string,
  opts: { now?: number; clockSkewSeconds?: number; audience?: string } = {},
): VerifyResult {
  const invalid = { ok: false, error: 'TOKEN_INVALID' } as const;
  if (token.length > 4096) return invalid;
  const parts = token.split('.');
  if (parts.length !== 3) return invalid;
  const [h, p, s] = parts as [string, string, string];
  const header = parseJson(h);
  if (header?.alg !== 'HS256') return invalid;
  const expected = Buffer.from(mac(`${h}.${p}`, secret));
  const given = Buffer.from(s);
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return invalid;
  const claims = parseJson(p);
  if (!claims || typeof claims.sub !== 'string' || claims.sub === '') return invalid;
  if (typeof claims.exp !== 'number' || !Number.isFinite(claims.exp)) return invalid;
  const now = (opts.now ?? Date.now()) / 1000;
  const skew = Math.min(Math.max(opts.clockSkewSeconds ?? 30, 0), MAX_CLOCK_SKEW_SECONDS);
  if (claims.nbf !== undefined && (typeof claims.nbf !== 'number' || claims.nbf > now + skew)) return invalid;
  if (opts.audience !== undefined) {
    const aud = Array.isArray(claims.aud) ? claims.aud : [claims.aud];
    if (!aud.includes(opts.audience)) return invalid;
  }
  if (claims.exp <= now - skew) return { ok: false, error: 'TOKEN_EXPIRED' };
  return { ok: true, claims: claims as unknown as ConnectClaims };
}

/**
 * A token's claims read without verifying it: only for showing who a token is for (the
 * CLI's `listen`), never for deciding anything. Undefined when it is not a JWT.
 */
export function unverifiedClaims(token: string): Record<string, unknown> | undefined {
  return parseJson(token.split('.')[1] ?? '');
}

function mac(input: string, secret: string): string {
  return createHmac('sha256', secret).update(input).digest('base64url');
}

function b64url(s: string): string {
  return Buffer.from(s).toString('base64url');
}

function parseJson(part: string): Record<string, unknown> | undefined {
  try {
    const v: unknown = JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
    return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}
