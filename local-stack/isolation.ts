import { randomBytes } from 'node:crypto';

/** A key prefix and a database name of a test's own, so tests can share servers. */
export function uniquePrefix(): string {
  return `pft-${randomBytes(4).toString('hex')}:`;
}

export function uniqueMongoUrl(base: string): string {
  const url = new URL(base);
  url.pathname = `/pft_${randomBytes(4).toString('hex')}`;
  return url.toString();
}
