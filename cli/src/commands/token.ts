import { apiHelp, apiOptions, commonHelp, commonOptions, parseCommand, parseSeconds } from '../args.ts';
import { apiTarget, request } from '../api.ts';
import { EXIT, usageError } from '../errors.ts';
import { printHelp, printJson, printLines } from '../output.ts';
import { explainingUnreachable, type GatewayValues, gatewayValues } from '../settings.ts';
import type { Command } from './command.ts';

const DEFAULT_TTL_S = 3600;
/** The gateway's own ceiling for PUSHFLOW_MAX_TOKEN_TTL_SECONDS: a year. */
const MAX_LOCAL_TTL_S = 31_536_000;
const MIN_SECRET_BYTES = 32;

const help = `Usage: pushflow token <recipientId> [--ttl S] [--local]

Mints a connect token for recipientId: a client opens ws://<delivery>/ws?token=<token>.

  --ttl S            lifetime in seconds (default ${DEFAULT_TTL_S}); the gateway refuses more
                     than its PUSHFLOW_MAX_TOKEN_TTL_SECONDS (86400 by default)
  --local            sign it here instead of asking the gateway (POST /connect-tokens), with
                     PUSHFLOW_CONNECT_SECRET (or PUSHFLOW_CONNECT_SECRET_FILE), the secret the
                     delivery nodes verify with; adds "aud" when PUSHFLOW_TOKEN_AUDIENCE is set,
                     and "kid" when PUSHFLOW_CONNECT_SECRET_ID is.
                     Needs no API key and no running gateway. Nodes refuse a token that lives
                     longer than their PUSHFLOW_MAX_TOKEN_TTL_SECONDS, whoever signed it.
${apiHelp}
${commonHelp}

Prints the token alone, so TOKEN=$(pushflow token alice) works
(with --json: {"token","expiresAt"}).
Exit codes: 0 minted, 1 usage (or --local without a usable secret), 2 refused,
3 unreachable or 5xx.
`;

interface Minted {
  token: string;
  expiresAt: string;
}

export const token: Command = {
  name: 'token',
  summary: 'mint a connect token (POST /connect-tokens, or --local with the connect secret)',
  help,
  async run(args, out) {
    const { values, positionals } = parseCommand(
      'token',
      args,
      {
        ...commonOptions,
        ...apiOptions,
        ttl: { type: 'string' },
        local: { type: 'boolean', default: false },
      },
      ['recipientId'],
    );
    if (values.help) return printHelp(help);
    const recipientId = positionals[0]!;
    const ttlSeconds = values.ttl === undefined ? DEFAULT_TTL_S : parseSeconds('token', 'ttl', values.ttl);
    const minted = values.local ? await signLocally(recipientId, ttlSeconds) : await mint(values, recipientId, ttlSeconds);
    if (out.json) printJson(minted);
    else printLines([minted.token]);
    return EXIT.ok;
  },
};

async function mint(values: GatewayValues, recipientId: string, ttlSeconds: number): Promise<Minted> {
  const gateway = gatewayValues(values);
  const target = await apiTarget(gateway);
  return explainingUnreachable(gateway.found, async () => {
    return (await request<Minted>(target, 'POST', '/connect-tokens', { body: { recipientId, ttlSeconds } })).body;
  });
}

async function signLocally(recipientId: string, ttlSeconds: number, env = process.env): Promise<Minted> {
  // Loaded only here: @pushflow/shared takes most of a second to import.
  const { CONTENT_CEILINGS, readSecretFiles, RECIPIENT_ID_PATTERN, signConnectToken } = await import('@pushflow/shared');
  if (ttlSeconds > MAX_LOCAL_TTL_S) throw usageError(`token: --ttl at most ${MAX_LOCAL_TTL_S} (a year)`);
  // The delivery node refuses (4001) a `sub` the gateway would not sign: say so here instead.
  const maxLength = CONTENT_CEILINGS.recipientIdLength;
  if (recipientId.length > maxLength || !new RegExp(RECIPIENT_ID_PATTERN).test(recipientId)) {
    throw usageError(`token: recipientId must be 1 to ${maxLength} letters, digits and _ . @ - (got ${JSON.stringify(recipientId)})`);
  }
  let secret: string | undefined;
  try {
    secret = readSecretFiles(['PUSHFLOW_CONNECT_SECRET'], env).env.PUSHFLOW_CONNECT_SECRET || undefined;
  } catch (err) {
    throw usageError(`token --local: ${(err as Error).message}`);
  }
  if (secret === undefined)
    throw usageError("token --local: set PUSHFLOW_CONNECT_SECRET (or PUSHFLOW_CONNECT_SECRET_FILE) to the delivery nodes' secret");
  if (Buffer.byteLength(secret) < MIN_SECRET_BYTES)
    throw usageError(`token --local: PUSHFLOW_CONNECT_SECRET is shorter than ${MIN_SECRET_BYTES} bytes; no PushFlow service accepts it`);
  const now = Math.floor(Date.now() / 1000);
  const audience = env.PUSHFLOW_TOKEN_AUDIENCE || undefined;
  const kid = env.PUSHFLOW_CONNECT_SECRET_ID || undefined;
  const jwt = await signConnectToken(
    { sub: recipientId, iat: now, exp: now + ttlSeconds, ...(audience && { aud: audience }) },
    secret,
    kid,
  );
  return { token: jwt, expiresAt: new Date((now + ttlSeconds) * 1000).toISOString() };
}
