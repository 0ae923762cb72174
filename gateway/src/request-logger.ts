import type { FastifyBaseLogger } from 'fastify';
import type { Logger } from '@pushflow/shared';

type Bindings = Parameters<Logger['child']>[0];
type ChildLoggerOptions = NonNullable<Parameters<Logger['child']>[1]>;

/**
 * Fastify's `childLoggerFactory` for the gateway: a request's logger becomes a pino child
 * only when the request logs at an enabled level. Most requests log nothing at info (the
 * access lines are at debug by default, access-log.ts), yet building their child cost about
 * 3.4 µs each here, 2% of the gateway's CPU for a single POST (docs/performance.md). A
 * class, so the methods are shared on its prototype rather than allocated per request.
 */
class LazyRequestLogger {
  /** The gateway's pino logger (app.ts passes one as `loggerInstance`). */
  readonly #parent: Logger;
  readonly #bindings: Bindings;
  readonly #opts: ChildLoggerOptions;
  #real: FastifyBaseLogger | undefined;

  constructor(parent: Logger, bindings: Bindings, opts: ChildLoggerOptions) {
    this.#parent = parent;
    this.#bindings = bindings;
    this.#opts = opts;
  }

  #logger(): FastifyBaseLogger {
    this.#real ??= this.#parent.child(this.#bindings, this.#opts) as FastifyBaseLogger;
    return this.#real;
  }

  get level(): string {
    return (this.#real ?? this.#parent).level;
  }
  set level(level: string) {
    this.#logger().level = level;
  }
  get silent() {
    return this.#parent.silent;
  }
  child(bindings: Bindings, opts?: ChildLoggerOptions): FastifyBaseLogger {
    return this.#logger().child(bindings, opts);
  }
  fatal(...args: Parameters<FastifyBaseLogger['fatal']>): void {
    if (this.#parent.isLevelEnabled('fatal')) this.#logger().fatal(...args);
  }
  error(...args: Parameters<FastifyBaseLogger['error']>): void {
    if (this.#parent.isLevelEnabled('error')) this.#logger().error(...args);
  }
  warn(...args: Parameters<FastifyBaseLogger['warn']>): void {
    if (this.#parent.isLevelEnabled('warn')) this.#logger().warn(...args);
  }
  info(...args: Parameters<FastifyBaseLogger['info']>): void {
    if (this.#parent.isLevelEnabled('info')) this.#logger().info(...args);
  }
  debug(...args: Parameters<FastifyBaseLogger['debug']>): void {
    if (this.#parent.isLevelEnabled('debug')) this.#logger().debug(...args);
  }
  trace(...args: Parameters<FastifyBaseLogger['trace']>): void {
    if (this.#parent.isLevelEnabled('trace')) this.#logger().trace(...args);
  }
}

export function lazyRequestLogger(parent: FastifyBaseLogger, bindings: Bindings, opts: ChildLoggerOptions): FastifyBaseLogger {
  return new LazyRequestLogger(parent as unknown as Logger, bindings, opts) as unknown as FastifyBaseLogger;
}
