import type { Logger } from 'pino';

/**
 * On SIGTERM or SIGINT run the service's drain once, then exit 0; a drain that hangs past
 * the deadline exits 1 so an orchestrator is never left waiting.
 */
export function onShutdown(log: Logger, drain: () => Promise<void>, deadlineMs = 10_000): void {
  let started = false;
  const handle = (signal: NodeJS.Signals) => {
    if (started) return;
    started = true;
    log.info({ signal }, 'shutting down');
    const timer = setTimeout(() => {
      log.error({ deadlineMs }, 'shutdown deadline passed; exiting');
      process.exit(1);
    }, deadlineMs);
    timer.unref();
    drain().then(
      () => {
        log.info('stopped');
        log.flush?.();
        process.exit(0);
      },
      (err: unknown) => {
        log.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', handle);
  process.once('SIGINT', handle);
}
