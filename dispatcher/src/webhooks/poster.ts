import { isIP } from 'node:net';
import { Agent, request } from 'undici';
import { hostOf, isPublicAddress, lookupPublic } from './address-guard.ts';

/**
 * One webhook POST: keep-alive connections per origin (one undici Agent for the process),
 * no redirect followed (a 3xx is an answer, and not a 2xx), the response body read up to a
 * cap and the rest dropped, and the SSRF guard in the socket's own lookup.
 */
export interface PostResult {
  /** The HTTP status, when one came. */
  status?: number;
  /** Why none came: a timeout, a refused address, a connection error. */
  error?: string;
  ok: boolean;
  latencyMs: number;
}

export interface Poster {
  post(url: string, headers: Record<string, string>, body: string, signal?: AbortSignal): Promise<PostResult>;
  close(): Promise<void>;
}

export function createPoster(opts: { timeoutMs: number; maxResponseBytes: number; allowPrivate: boolean; connections: number }): Poster {
  const agent = new Agent({
    keepAliveTimeout: 30_000,
    connections: opts.connections,
    connect: { timeout: opts.timeoutMs, ...(opts.allowPrivate ? {} : { lookup: lookupPublic }) },
    headersTimeout: opts.timeoutMs,
    bodyTimeout: opts.timeoutMs,
  });

  async function post(url: string, headers: Record<string, string>, body: string, signal?: AbortSignal): Promise<PostResult> {
    const started = performance.now();
    const done = (r: Omit<PostResult, 'latencyMs' | 'ok'>): PostResult => ({
      ...r,
      ok: r.status !== undefined && r.status >= 200 && r.status < 300,
      latencyMs: Math.round((performance.now() - started) * 10) / 10,
    });
    if (!opts.allowPrivate) {
      // A literal address is never looked up, so lookupPublic would not see it.
      const host = hostOf(new URL(url));
      if (isIP(host) && !isPublicAddress(host)) return done({ error: `refused: ${host} is not a public address` });
    }
    const timeout = AbortSignal.timeout(opts.timeoutMs);
    try {
      const res = await request(url, {
        method: 'POST',
        dispatcher: agent,
        headers: { 'content-type': 'application/json', 'user-agent': 'PushFlow-Webhooks', ...headers },
        body,
        signal: signal ? AbortSignal.any([timeout, signal]) : timeout,
      });
      await readCapped(res.body, opts.maxResponseBytes);
      return done({ status: res.statusCode });
    } catch (err) {
      return done({ error: describe(err, timeout.aborted, opts.timeoutMs) });
    }
  }

  return { post, close: () => agent.close() };
}

/** Reads at most `cap` bytes, then drops the connection's rest of the body. */
async function readCapped(body: AsyncIterable<Buffer> & { destroy(): void }, cap: number): Promise<void> {
  let read = 0;
  for await (const chunk of body) {
    read += chunk.length;
    if (read > cap) {
      body.destroy();
      return;
    }
  }
}

function describe(err: unknown, timedOut: boolean, timeoutMs: number): string {
  if (timedOut) return `timeout: no answer within ${timeoutMs} ms`;
  const e = err as NodeJS.ErrnoException & { cause?: NodeJS.ErrnoException };
  const inner = e.cause ?? e;
  if ((inner as { code?: string }).code === 'PUSHFLOW_WEBHOOK_ADDRESS_REFUSED') return `refused: ${inner.message}`;
  return `${inner.code ?? e.name}: ${inner.message}`.slice(0, 300);
}
