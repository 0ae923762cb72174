import { pino, type Logger, type LevelWithSilent } from 'pino';

export type { Logger } from 'pino';

/** pino JSON to stdout; `service` on every line, secrets never. */
export function createLogger(service: string, level: string = 'info'): Logger {
  return pino({
    name: service,
    level: level as LevelWithSilent,
    base: { service, pid: process.pid },
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: {
      // ioredis puts the failed command's arguments on its errors: AUTH's are the password.
      paths: ['token', 'authorization', 'req.headers.authorization', 'req.query.token', '*.token', 'secret',
        'err.command.args', '*.err.command.args'],
      censor: '[redacted]',
    },
  });
}
