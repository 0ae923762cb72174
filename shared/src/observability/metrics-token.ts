import { createHash, timingSafeEqual } from 'node:crypto';

/**
 * Who may read /metrics. Without PUSHFLOW_METRICS_TOKEN anyone may (like /healthz: keep the
 * port private); with it, only `Authorization: Bearer <token>`. Both sides are hashed so the
 * comparison takes the same time whatever the length or content of what was sent.
 */
export function metricsAccess(token: string | undefined): (authorization: string | undefined) => boolean {
  if (token === undefined || token === '') return () => true;
  const expected = sha256(token);
  return (authorization) => {
    const match = authorization === undefined ? null : /^Bearer +(\S+) *$/i.exec(authorization);
    return timingSafeEqual(sha256(match?.[1] ?? ''), expected) && match !== null;
  };
}

function sha256(value: string): Buffer {
  return createHash('sha256').update(value).digest();
}
