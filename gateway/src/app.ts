import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Fastify, { type FastifyError } from 'fastify';
import { makeKeys, type Logger, type RedisClient, type Registry } from '@pushflow/shared';
import pkg from '../package.json' with { type: 'json' };
import { accessLog } from './access-log.ts';
import { lazyRequestLogger } from './request-logger.ts';
import { apiKeyHook } from './auth.ts';
import { batchLimits, contentLimits, rateLimitSettings, type GatewayConfig } from './config.ts';
import { dashboardApiRoutes, dashboardPageRoutes } from './dashboard/routes.ts';
import { dashboardWebhookRoutes } from './dashboard/webhooks-panel.ts';
import { createGatewayMetrics, type GatewayMetrics } from './metrics.ts';
import { openapiOptions } from './openapi.ts';
import { type HttpProblem, loggedProblem, Problem, sendProblem, unparsableJson } from './problems.ts';
import { createRateLimiter, type RateLimiter } from './rate-limit.ts';
import type { Rpc } from './rpc.ts';
import { connectTokenRoutes } from './routes/connect-tokens.ts';
import { healthRoutes } from './routes/health.ts';
import { metricsRoutes } from './routes/metrics.ts';
import { notificationBatchRoutes } from './routes/notification-batches.ts';
import { notificationRoutes } from './routes/notifications.ts';
import { webhookRoutes } from './routes/webhooks.ts';

/** Fastify's ajv settings; the uWS front's fast paths compile their routes' schemas with the same (fast-route.ts). */
export const AJV_OPTIONS = {
  customOptions: {
    // Reject what does not fit instead of quietly repairing it: an extra property or a
    // number sent as a string is the caller's bug, and should show.
    removeAdditional: false,
    coerceTypes: false,
    useDefaults: true,
    allErrors: false,
  } as const,
  plugins: [],
};

/** Longer than any URL Node reads, so a bad id of any length is a 400 from the validator, not a 404. */
const MAX_PARAM_LENGTH = 16 * 1024;

export type AppConfig = Omit<
  GatewayConfig,
  'GATEWAY_PORT' | 'GATEWAY_HOST' | 'REDIS_URL' | 'LOG_LEVEL' | 'PUSHFLOW_REPLY_TIMEOUT_MS' | 'PUSHFLOW_API_KEYS'
>;

export interface AppDeps {
  config: AppConfig;
  /** Answers readiness and keeps the rate limit: the fail-fast command connection. */
  redis: RedisClient;
  rpc: Rpc;
  log?: Logger;
  /** Where the gateway's metrics go; main.ts passes one with the process metrics. */
  registry?: Registry;
  /** Given when something beside the app answers requests too (the uWS front's fast paths) and must count them alike. */
  metrics?: GatewayMetrics;
  /** The same: the one budget both draw on. Made from the config when absent. */
  rateLimiter?: RateLimiter | undefined;
}

/** The HTTP API, ready to inject() into or listen(); it owns no connections. */
export async function buildApp({ config, redis, rpc, log, registry, ...shared }: AppDeps) {
  const app = Fastify({
    ...(log ? { loggerInstance: log } : { logger: false }),
    logController: accessLog(config.PUSHFLOW_ACCESS_LOG),
    childLoggerFactory: lazyRequestLogger,
    bodyLimit: config.PUSHFLOW_HTTP_BODY_LIMIT_BYTES,
    // A body holding `__proto__`, or `constructor` with `prototype`, is refused at parse time (400).
    onProtoPoisoning: 'error',
    onConstructorPoisoning: 'error',
    routerOptions: { maxParamLength: MAX_PARAM_LENGTH },
    // Errors the router raises before any route runs (a malformed %-escape, a path segment
    // over maxParamLength) skip the error handler: answer them as problems too.
    frameworkErrors: (err, request, reply) => {
      const slug = err.code === 'FST_ERR_BAD_URL' || err.code === 'FST_ERR_MAX_PARAM_LENGTH' ? 'bad-request' : 'internal';
      if (slug === 'internal') request.log.error({ err }, 'router failed');
      return sendProblem(reply, request, slug, slug === 'bad-request' ? err.message : undefined);
    },
    ajv: AJV_OPTIONS,
  }).withTypeProvider<TypeBoxTypeProvider>();

  const metrics = shared.metrics ?? createGatewayMetrics(registry);
  app.addHook('onResponse', metrics.timeRequest);

  app.addSchema(Problem);
  // The API speaks JSON only: a text body is a 415, not a string for the validator to refuse.
  app.removeContentTypeParser('text/plain');
  // Fastify's parser, whose refusal says only "not valid JSON": unparsableJson says why and where.
  const { onProtoPoisoning, onConstructorPoisoning } = app.initialConfig;
  const parseJson = app.getDefaultJsonParser(onProtoPoisoning ?? 'error', onConstructorPoisoning ?? 'error');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    parseJson(request, body as string, (err, value) =>
      err && (err as FastifyError).code === 'FST_ERR_CTP_INVALID_JSON_BODY' ? done(unparsableJson(body as string)) : done(err, value),
    );
  });

  app.setErrorHandler((err: FastifyError | HttpProblem, request, reply) => {
    const { slug, detail, extra } = loggedProblem(err, request.log);
    return sendProblem(reply, request, slug, detail, extra);
  });
  app.setNotFoundHandler((request, reply) => sendProblem(reply, request, 'not-found', `No route for ${request.method} ${request.url}`));

  await app.register(swagger, openapiOptions(pkg.version));
  await app.register(swaggerUi, { routePrefix: '/docs' });
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
  // Someone who opens the gateway's address in a browser lands on something to look at.
  app.get('/', { schema: { hide: true } }, async (_request, reply) => reply.redirect('/dashboard'));

  await app.register(healthRoutes, { redis });
  await app.register(metricsRoutes, { registry: metrics.registry, token: config.PUSHFLOW_METRICS_TOKEN });
  // The page is public (it holds no data and asks for the key); its JSON is behind the key.
  await app.register(dashboardPageRoutes);
  await app.register(async (api) => {
    api.addHook('onRequest', apiKeyHook(config.apiKeys));
    // One budget for both routes: it counts notifications, however they are sent.
    const rateLimiter =
      'rateLimiter' in shared ? shared.rateLimiter : createRateLimiter(redis, config.PUSHFLOW_REDIS_PREFIX, rateLimitSettings(config));
    await api.register(notificationRoutes, {
      rpc,
      limits: contentLimits(config),
      bodyLimitBytes: config.PUSHFLOW_HTTP_BODY_LIMIT_BYTES,
      rateLimiter,
      onRateLimited: metrics.rateLimited,
    });
    await api.register(notificationBatchRoutes, {
      rpc,
      limits: contentLimits(config),
      batch: batchLimits(config),
      rateLimiter,
      onRateLimited: metrics.rateLimited,
    });
    await api.register(connectTokenRoutes, {
      secret: config.PUSHFLOW_CONNECT_SECRET,
      ...(config.PUSHFLOW_CONNECT_SECRET_ID !== undefined ? { secretId: config.PUSHFLOW_CONNECT_SECRET_ID } : {}),
      maxTtlSeconds: config.PUSHFLOW_MAX_TOKEN_TTL_SECONDS,
      recipientIdLength: config.PUSHFLOW_MAX_RECIPIENT_ID_LENGTH,
      audience: config.PUSHFLOW_TOKEN_AUDIENCE,
    });
    await api.register(webhookRoutes, { rpc });
    await api.register(dashboardWebhookRoutes, { rpc });
    await api.register(dashboardApiRoutes, {
      redis,
      keys: makeKeys(config.PUSHFLOW_REDIS_PREFIX, config.PUSHFLOW_PARTITIONS),
      redisPrefix: config.PUSHFLOW_REDIS_PREFIX,
      nodeTtlMs: config.PUSHFLOW_NODE_TTL_MS,
    });
  });

  await app.ready();
  return app;
}

export type App = Awaited<ReturnType<typeof buildApp>>;
