/** A signed connect token and when it stops being accepted. */
export interface ConnectToken {
  /** An HS256 JWT: the client passes it as `?token=` when it connects to a delivery node's `/ws`. */
  token: string;
  /** ISO 8601: when `exp` passes (the node then closes the socket with 4003). */
  expiresAt: string;
}

/** The secret and claims {@link signConnectToken} signs with. */
export interface SignConnectTokenOptions {
  /** `PUSHFLOW_CONNECT_SECRET` (or a secret of `PUSHFLOW_CONNECT_EXTRA_SECRETS`): at least 32 bytes. */
  secret: string;
  /** The recipient the token is for: its `sub` claim. */
  recipientId: string;
  /** Lifetime in seconds. Default 3600; a node refuses one further ahead than its `PUSHFLOW_MAX_TOKEN_TTL_SECONDS` (a day by default). */
  ttlSeconds?: number;
  /** `PUSHFLOW_CONNECT_SECRET_ID`, put in the header as `kid` so a node picks the secret by its id. */
  secretId?: string;
  /** `PUSHFLOW_TOKEN_AUDIENCE`, put in the token as `aud`, for nodes that require one. */
  audience?: string;
  /** The signing time (ms since the epoch), for tests; default now. */
  now?: number;
}

/** The lifetime of a connect token when none is given, as the gateway's `POST /connect-tokens` defaults: an hour. */
export const DEFAULT_TOKEN_TTL_SECONDS = 3600;
/** What a delivery node requires of an HS256 secret (docs/api.md, "Signing connect tokens yourself"). */
const MIN_SECRET_BYTES = 32;

const encoder = new TextEncoder();

/**
 * Signs a connect token here, without calling PushFlow: the same claims the gateway's
 * `POST /connect-tokens` signs (`sub`, `iat`, `exp`, and `aud` and the header's `kid` when
 * given), HS256 with the connect secret.
 *
 * The signature is HMAC-SHA256 from Node's WebCrypto (`crypto.subtle`), not a JWT library:
 * this package depends on nothing but `standardwebhooks`, and an HS256 JWT is only that HMAC
 * over two base64url JSON parts. The delivery nodes verify it with jose, as any other token.
 */
export async function signConnectToken(options: SignConnectTokenOptions): Promise<ConnectToken> {
  const { secret, recipientId, ttlSeconds = DEFAULT_TOKEN_TTL_SECONDS, secretId, audience } = options;
  if (typeof secret !== 'string' || encoder.encode(secret).length < MIN_SECRET_BYTES) {
    throw new TypeError(`@pushflow/server: the connect secret must be at least ${MIN_SECRET_BYTES} bytes, as delivery nodes require`);
  }
  if (typeof recipientId !== 'string' || recipientId === '') throw new TypeError('@pushflow/server: recipientId is required');
  if (!Number.isInteger(ttlSeconds) || ttlSeconds < 1)
    throw new TypeError(`@pushflow/server: ttlSeconds must be a whole number of seconds, at least 1`);
  const iat = Math.floor((options.now ?? Date.now()) / 1000);
  const exp = iat + ttlSeconds;
  const header = { alg: 'HS256', typ: 'JWT', ...(secretId ? { kid: secretId } : {}) };
  const claims = { sub: recipientId, iat, exp, ...(audience === undefined ? {} : { aud: audience }) };
  const signingInput = `${base64url(JSON.stringify(header))}.${base64url(JSON.stringify(claims))}`;
  const key = await crypto.subtle.importKey('raw', encoder.encode(secret), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
  const signature = new Uint8Array(await crypto.subtle.sign('HMAC', key, encoder.encode(signingInput)));
  return { token: `${signingInput}.${base64url(signature)}`, expiresAt: new Date(exp * 1000).toISOString() };
}

function base64url(data: string | Uint8Array): string {
  return Buffer.from(typeof data === 'string' ? encoder.encode(data) : data).toString('base64url');
}
