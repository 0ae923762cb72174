/**
 * `work`'s value, or undefined when it fails or takes longer than `ms`: a health check or
 * a scrape must answer in bounded time while a dependency is down or frozen. The timer is
 * cleared as soon as the race is decided, so it never holds the process open.
 */
export function within<T>(ms: number, work: Promise<T>): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), ms);
  });
  return Promise.race([work.catch(() => undefined), timeout]).finally(() => clearTimeout(timer));
}
