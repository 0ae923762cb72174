import { createRedis, makeKeys, type Keys, type Logger, type RedisClient, type Registry } from '@pushflow/shared';
import { buildApp, type App } from './app.ts';
import { apiKeyCheck } from './auth.ts';
import { batchLimits, contentLimits, rateLimitSettings, SERVICE, type GatewayConfig } from './config.ts';
import { routeCompilers, type FastRoute } from './fast-route.ts';
import { createGatewayMetrics } from './metrics.ts';
import { createRateLimiter } from './rate-limit.ts';
import { createRpc, newGatewayId, type Rpc } from './rpc.ts';
import { BATCH_ROUTE } from './routes/notification-batches.ts';
import { sendFastPath } from './send-fast-path.ts';
import { statusFastPath } from './status-fast-path.ts';
import { serveOnUws, type UwsFront } from './uws-front.ts';

/** The HTTP API with the Redis connections and reply reader it talks to the dispatchers over. */
export interface Gateway {
  app: App;
  rpc: Rpc;
  /** Commands and readiness: fails fast, so an outage answers 503 at once. */
  redis: RedisClient;
  /** The reply reader's, held by XREAD BLOCK; rpc.stop() closes it. */
  blocking: RedisClient;
  keys: Keys;
  gatewayId: string;
  /** Serves the API on GATEWAY_HOST and `port` (GATEWAY_PORT unless given) with PUSHFLOW_HTTP_SERVER; resolves to the port. */
  listen(port?: number): Promise<number>;
  /** Stops taking requests, fails those still waiting for a reply, closes the connections. */
  close(): Promise<void>;
}

export interface GatewayDeps {
  config: GatewayConfig;
  log: Logger;
  /** Two gateways on one Redis need different ids, or they read each other's replies. */
  gatewayId?: string;
  /** Where the gateway's metrics go; main.ts passes one with the process metrics. */
  registry?: Registry;
}

/** A gateway wired up but not listening: main.ts listens, tests inject(). */
export async function createGateway({ config, log, gatewayId = newGatewayId(), registry }: GatewayDeps): Promise<Gateway> {
  const { redis, blocking } = connectRedis(config, gatewayId, log);
  const keys = makeKeys(config.PUSHFLOW_REDIS_PREFIX, config.PUSHFLOW_PARTITIONS);
  const rpc = createRpc({
    redis,
    blocking,
    keys,
    gatewayId,
    timeoutMs: config.PUSHFLOW_REPLY_TIMEOUT_MS,
    log,
  });
  // Made here, not in the app, because the uWS front's fast paths count requests and limit sends too.
  const metrics = createGatewayMetrics(registry);
  const rateLimiter = createRateLimiter(redis, config.PUSHFLOW_REDIS_PREFIX, rateLimitSettings(config));
  const app = await buildApp({ config, redis, rpc, log, metrics, rateLimiter });
  let front: UwsFront | undefined;
  return {
    app,
    rpc,
    redis,
    blocking,
    keys,
    gatewayId,
    async listen(port = config.GATEWAY_PORT) {
      if (config.PUSHFLOW_HTTP_SERVER === 'node') {
        await app.listen({ port, host: config.GATEWAY_HOST });
        const address = app.server.address();
        return typeof address === 'object' && address ? address.port : port;
      }
      const batchBodyLimit = batchLimits(config).bodyLimitBytes;
      // Fastify writes the request lines of PUSHFLOW_ACCESS_LOG and of debug: then it sees every request.
      let fastRoutes: FastRoute[] = [];
      if (!config.PUSHFLOW_ACCESS_LOG && !log.isLevelEnabled('debug')) {
        const checkKey = apiKeyCheck(config.apiKeys);
        const compilers = routeCompilers(app);
        fastRoutes = [
          sendFastPath({
            app,
            rpc,
            limits: contentLimits(config),
            bodyLimitBytes: config.PUSHFLOW_HTTP_BODY_LIMIT_BYTES,
            checkKey,
            compilers,
            rateLimiter,
            metrics,
            log,
          }),
          statusFastPath({ rpc, checkKey, compilers, metrics, log }),
        ];
      }
      front = await serveOnUws({
        app,
        fastRoutes,
        host: config.GATEWAY_HOST,
        port,
        bodyCapBytes: (path) => (path === BATCH_ROUTE ? batchBodyLimit : config.PUSHFLOW_HTTP_BODY_LIMIT_BYTES),
        log,
      });
      return front.port;
    },
    async close() {
      await front?.close(); // stops taking requests; those in flight still get their replies
      await app.close();
      await rpc.stop();
      await redis.quit().catch(() => redis.disconnect());
    },
  };
}

function connectRedis(config: GatewayConfig, gatewayId: string, log: Logger) {
  // Commands fail fast so a Redis outage answers 503 at once; the reply reader waits it out.
  // The command timeout matches the reply timeout: a frozen Redis costs no more than a silent dispatcher.
  const redis = createRedis(config.REDIS_URL, `${SERVICE}:${gatewayId}`, {
    failFast: true,
    commandTimeoutMs: config.PUSHFLOW_REPLY_TIMEOUT_MS,
  });
  const blocking = createRedis(config.REDIS_URL, `${SERVICE}:${gatewayId}:replies`);
  for (const [name, client] of [
    ['commands', redis],
    ['replies', blocking],
  ] as const) {
    client.on('error', (err: Error) => log.warn({ connection: name, err: err.message }, 'redis connection error'));
  }
  return { redis, blocking };
}
