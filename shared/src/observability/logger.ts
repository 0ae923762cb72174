import { pino, type DestinationStream, type Logger, type LevelWithSilent, type SerializedError } from 'pino';

export type { Logger } from 'pino';

/**
 * Property paths that hold secrets wherever a service logs them: API keys (the
 * Authorization header, the configured list), the connect secret, connect tokens.
 */
const REDACT_PATHS = [
  'authorization',
  '*.authorization',
  'headers.authorization',
  '*.headers.authorization',
  'req.headers.authorization',
  'cookie',
  '*.cookie',
  'headers.cookie',
  '*.headers.cookie',
  'apiKey',
  '*.apiKey',
  'apiKeys',
  '*.apiKeys',
  'PUSHFLOW_API_KEYS',
  '*.PUSHFLOW_API_KEYS',
  'secret',
  '*.secret',
  'PUSHFLOW_CONNECT_SECRET',
  '*.PUSHFLOW_CONNECT_SECRET',
  'PUSHFLOW_CONNECT_EXTRA_SECRETS',
  '*.PUSHFLOW_CONNECT_EXTRA_SECRETS',
  'token',
  '*.token',
  'req.query.token',
  // ioredis puts the failed command's arguments on its errors: AUTH's are the password.
  'err.command.args',
  '*.err.command.args',
];

export const REDACTED = '[redacted]';

// Connect tokens travel in the WebSocket URL (`/ws?token=…`), so any logged URL may hold one.
const tokenInQuery = /([?&](?:access_)?token=)[^&#\s"]*/gi;

/** The URL with the values of `token=` query parameters replaced. */
export function redactUrl(url: string): string {
  return url.replace(tokenInQuery, `$1${REDACTED}`);
}

function redactText(value: unknown): unknown {
  return typeof value === 'string' && /token=/i.test(value) ? redactUrl(value) : value;
}

interface RequestLike {
  method?: string;
  url?: string;
  host?: string;
  ip?: string;
  headers?: Record<string, unknown>;
  socket?: { remoteAddress?: string; remotePort?: number };
}

/** What a request line says: never its headers, and its URL without tokens. */
function requestSerializer(req: RequestLike) {
  return {
    method: req.method,
    url: typeof req.url === 'string' ? redactUrl(req.url) : req.url,
    host: req.host ?? req.headers?.host,
    remoteAddress: req.ip ?? req.socket?.remoteAddress,
    remotePort: req.socket?.remotePort,
  };
}

function errorSerializer(err: Error): SerializedError {
  const out = pino.stdSerializers.err(err);
  if (!out || typeof out !== 'object') return out;
  out.message = redactText(out.message) as string;
  out.stack = redactText(out.stack) as string;
  return out;
}

/**
 * pino JSON to stdout (or `destination`); `service` on every line, secrets never: the
 * paths above are censored, URLs and messages lose their `token=` values.
 */
export function createLogger(service: string, level: string = 'info', destination?: DestinationStream): Logger {
  const options = {
    name: service,
    level: level as LevelWithSilent,
    base: { service, pid: process.pid },
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: { paths: REDACT_PATHS, censor: REDACTED },
    serializers: { req: requestSerializer, err: errorSerializer },
    formatters: {
      log(object: Record<string, unknown>) {
        if (typeof object.url === 'string') return { ...object, url: redactUrl(object.url) };
        return object;
      },
    },
    hooks: {
      logMethod(this: Logger, args: unknown[], method: (...a: unknown[]) => void) {
        method.apply(this, args.map(redactText));
      },
    },
  };
  return destination ? pino(options, destination) : pino(options);
}
