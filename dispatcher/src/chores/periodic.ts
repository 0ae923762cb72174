import type { Logger } from '@pushflow/shared';

/**
 * Runs a background task every `intervalMs`, never two runs at once; a failing run is
 * logged and the next one tries again (Redis or MongoDB may be down for a while).
 */
export interface Periodic {
  /** No further runs; resolves once the run in hand has finished. */
  stop(): Promise<void>;
}

export function runEvery(name: string, intervalMs: number, task: () => Promise<unknown>, log: Logger): Periodic {
  let running: Promise<void> | undefined;
  const timer = setInterval(() => {
    if (running) return;
    running = task()
      .then(
        () => undefined,
        (err: unknown) => log.warn({ err: (err as Error).message, task: name }, 'background task failed; will retry'),
      )
      .finally(() => (running = undefined));
  }, intervalMs);
  timer.unref();
  return {
    async stop() {
      clearInterval(timer);
      await running;
    },
  };
}
