import type { Keys, RedisClient } from '@pushflow/shared';
import type { EndpointDoc, Endpoints } from './endpoint-store.ts';
import { signerFor } from './signer.ts';

/**
 * The endpoints as the relay sends to them, in memory. Every change made through the API
 * bumps `webhook-version` in Redis after it is written to MongoDB; the relay reads that
 * counter before each batch and reloads when it moved, so an event appended after a
 * create's answer is always matched against the new endpoint.
 */
export interface LiveEndpoint {
  id: string;
  url: string;
  events: ReadonlySet<string>;
  enabled: boolean;
  /** Epoch ms (Redis's clock): events appended before it are not for this endpoint. */
  activeSince: number;
  /** Signs `id.timestamp.body` with every live secret: `v1,<sig>` each, space-separated. */
  sign(messageId: string, at: Date, body: string): string;
}

export interface EndpointCache {
  /** Reloads if the version moved; resolves with the endpoints. */
  current(): Promise<ReadonlyMap<string, LiveEndpoint>>;
  /** As last loaded, without asking Redis. */
  known(): ReadonlyMap<string, LiveEndpoint>;
}

export function createEndpointCache(deps: { redis: RedisClient; keys: Keys; endpoints: Endpoints }): EndpointCache {
  let version: string | null | undefined;
  let loaded: ReadonlyMap<string, LiveEndpoint> = new Map();
  let loading: Promise<void> | undefined;

  async function reload(seen: string | null): Promise<void> {
    const docs = await deps.endpoints.find({}).toArray();
    loaded = new Map(docs.map((d) => [d._id, live(d)]));
    version = seen;
  }

  return {
    async current() {
      for (;;) {
        const seen = await deps.redis.get(deps.keys.webhookVersion);
        if (seen === version && version !== undefined) return loaded;
        // A load begun before this read of the version may have read the endpoints before
        // the change it counts: wait for it, then look again.
        if (loading) {
          await loading;
          continue;
        }
        loading = reload(seen).finally(() => (loading = undefined));
        await loading;
        return loaded;
      }
    },
    known: () => loaded,
  };
}

function live(doc: EndpointDoc): LiveEndpoint {
  const signers = doc.secrets.map((s) => ({ sign: signerFor(s.secret), expiresAt: s.expiresAt?.getTime() ?? Infinity }));
  return {
    id: doc._id,
    url: doc.url,
    events: new Set(doc.events),
    enabled: doc.enabled,
    activeSince: doc.activeSince?.getTime() ?? 0,
    sign(messageId, at, body) {
      const now = at.getTime();
      return signers
        .filter((s) => s.expiresAt > now)
        .map((s) => s.sign(messageId, at, body))
        .join(' ');
    },
  };
}
