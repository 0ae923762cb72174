import { fileURLToPath } from 'node:url';
import { Type, type FastifyPluginAsyncTypebox, type Static } from '@fastify/type-provider-typebox';
import type { FastifyPluginAsync } from 'fastify';
import {
  compareIds,
  failureReasons,
  readGroups,
  RecipientId,
  statuses,
  StatusSchema,
  ReasonSchema,
  type Keys,
  type RedisClient,
} from '@pushflow/shared';
import { loadStaticAssets } from '@pushflow/shared/static-pages';
import { HttpProblem, problemResponse } from '../problems.ts';
import { countStatuses, foldWindow, throughput, type LedgerWindow, type RawEntry, type TimedEvent } from './ledger-window.ts';

/**
 * The operator's dashboard: a static page at /dashboard (public: it holds no data and asks
 * for the API key), and the JSON it polls under /dashboard/api/, behind the API key like
 * the rest of the API and in the OpenAPI document. Everything is read from Redis when asked:
 * consumer groups (XINFO GROUPS), delivery nodes (the `nodes` heartbeat set and the
 * connection counts nodes report with it), and the newest entries of the ledger.
 */
const publicDir = fileURLToPath(new URL('../public/', import.meta.url));

export const dashboardPageRoutes: FastifyPluginAsync = async (app) => {
  const assets = loadStaticAssets(publicDir, {
    '/dashboard': 'dashboard.html',
    '/dashboard/': 'dashboard.html',
    '/dashboard/app.js': 'dashboard.ts',
    '/dashboard/dashboard.css': 'dashboard.css',
    '/dashboard/favicon.svg': 'favicon.svg',
  });
  for (const asset of assets) {
    app.get(asset.path, { schema: { hide: true } }, async (_request, reply) => reply.headers(asset.headers).send(asset.body));
  }
};

/** Ledger entries one read may return: bounds the work of a poll whatever the traffic. */
export const WINDOW_CAP = 20_000;
/** Polls within this share one ledger read (several panels, several open dashboards). */
const WINDOW_REUSE_MS = 500;
// Query strings stay strings (the gateway never coerces types), so numbers are patterns.
// Optional with a default: the query may leave them out, and the handler sees the default.
const Minutes = Type.Optional(
  Type.String({ pattern: '^([1-9]|[1-5][0-9]|60)$', default: '5', description: 'Minutes back the ledger window reaches, 1 to 60' }),
);

const WindowQuery = Type.Object({ minutes: Minutes }, { additionalProperties: false });

const SearchQuery = Type.Object(
  {
    minutes: Minutes,
    q: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 128,
        pattern: '^[A-Za-z0-9_.@-]+$',
        description: 'A recipient id (exact) or a notification id (exact, or its first characters)',
      }),
    ),
    limit: Type.Optional(
      Type.String({ pattern: '^([1-9][0-9]?|[1-4][0-9][0-9]|500)$', default: '50', description: 'At most this many, 1 to 500' }),
    ),
  },
  { additionalProperties: false },
);

const WindowFields = {
  from: Type.Integer({ description: 'Epoch ms the window starts at (the oldest entry read when `truncated`)' }),
  to: Type.Integer({ description: 'Epoch ms the window ends at (now)' }),
  events: Type.Integer({ minimum: 0, description: 'Ledger events read' }),
  truncated: Type.Boolean({ description: `True when the window held more than ${WINDOW_CAP} events and older ones were left out` }),
};

const countsOf = <T extends readonly string[]>(names: T) =>
  Type.Object(Object.fromEntries(names.map((n) => [n, Type.Integer({ minimum: 0 })])), { additionalProperties: false });

const Activity = Type.Object({
  ...WindowFields,
  counts: Type.Object(
    {
      byStatus: countsOf(statuses),
      byReason: countsOf(failureReasons),
    },
    { description: "Notifications seen in the window, by the status the window's events give them" },
  ),
  throughput: Type.Array(
    Type.Object({
      t: Type.Integer({ description: 'Epoch ms of the second' }),
      accepted: Type.Integer({ minimum: 0 }),
      delivered: Type.Integer({ minimum: 0 }),
      failed: Type.Integer({ minimum: 0 }),
      acknowledged: Type.Integer({ minimum: 0 }),
    }),
    { description: 'Ledger events per second over the window, oldest first' },
  ),
});

const RecentNotifications = Type.Object({
  ...WindowFields,
  notifications: Type.Array(
    Type.Object({
      notificationId: Type.String(),
      recipientId: Type.Optional(RecipientId),
      title: Type.Optional(Type.String()),
      status: StatusSchema,
      reason: Type.Optional(ReasonSchema),
      acceptedAt: Type.Optional(Type.Integer({ description: 'Epoch ms; absent when accepted before the window' })),
      updatedAt: Type.Integer({ description: 'Epoch ms of its newest event in the window' }),
    }),
    { description: 'Newest first' },
  ),
});

const Streams = Type.Object({
  groups: Type.Array(
    Type.Object({
      stream: Type.String({ description: 'The stream key without the prefix: commands, queries, events, deliveries:<nodeId>' }),
      group: Type.String(),
      lag: Type.Union([Type.Integer(), Type.Null()], { description: 'Entries not yet read by the group; null when Redis cannot tell' }),
      pending: Type.Integer({ minimum: 0, description: 'Read by a consumer, not yet acked' }),
    }),
  ),
});

const nodesSchema = (nodeTtlMs: number) =>
  Type.Object({
    nodes: Type.Array(
      Type.Object({
        nodeId: Type.String(),
        lastHeartbeatAt: Type.Integer({ description: 'Epoch ms' }),
        alive: Type.Boolean({ description: `Heartbeat within ${nodeTtlMs} ms` }),
        connections: Type.Union([Type.Integer({ minimum: 0 }), Type.Null()], {
          description: 'Open WebSockets, as of its last heartbeat; null when the node did not say',
        }),
      }),
    ),
  });

const common = {
  400: problemResponse('The query is not valid'),
  401: problemResponse('Missing or invalid API key'),
  503: problemResponse('Redis does not answer; see Retry-After'),
};

export interface DashboardApiOptions {
  redis: RedisClient;
  keys: Keys;
  /** PUSHFLOW_REDIS_PREFIX, cut off stream names. (Not `prefix`: Fastify reads that as a URL prefix.) */
  redisPrefix: string;
  /** PUSHFLOW_NODE_TTL_MS: alive is what the dispatchers route to. */
  nodeTtlMs: number;
}

export const dashboardApiRoutes: FastifyPluginAsyncTypebox<DashboardApiOptions> = async (app, { redis, keys, redisPrefix, nodeTtlMs }) => {
  const Nodes = nodesSchema(nodeTtlMs);
  const readWindow = windowReader(redis, keys.allEvents);
  const tags = ['dashboard'];

  app.get(
    '/dashboard/api/activity',
    {
      schema: {
        operationId: 'getDashboardActivity',
        summary: 'Counts by status and failure reason, and events per second, over the recent ledger',
        tags,
        querystring: WindowQuery,
        response: { 200: Activity, ...common },
      },
    },
    async (request) => {
      const { timed, notifications, ...window } = await readWindow(Number(request.query.minutes ?? 5));
      return { ...window, counts: countStatuses(notifications), throughput: throughput(timed, window.from, window.to) };
    },
  );

  app.get(
    '/dashboard/api/notifications',
    {
      schema: {
        operationId: 'listRecentNotifications',
        summary: 'Notifications in the recent ledger, newest first, optionally for one recipient or id',
        tags,
        querystring: SearchQuery,
        response: { 200: RecentNotifications, ...common },
      },
    },
    async (request) => {
      const { q, limit, minutes } = request.query;
      const { timed: _timed, notifications, ...window } = await readWindow(Number(minutes ?? 5));
      const matching = q === undefined ? notifications : notifications.filter((n) => n.recipientId === q || n.notificationId.startsWith(q));
      return { ...window, notifications: matching.slice(0, Number(limit ?? 50)) };
    },
  );

  app.get(
    '/dashboard/api/streams',
    {
      schema: {
        operationId: 'getDashboardStreams',
        summary: 'Lag and pending entries of every consumer group',
        tags,
        response: { 200: Streams, ...common },
      },
    },
    async () => {
      const nodeIds = await redisCall(() => redis.zrange(keys.nodes, 0, -1));
      const streams = [...keys.allCommands, keys.queries, ...keys.allEvents, ...nodeIds.map((n) => keys.deliveries(n))];
      const groups = await redisCall(() => readGroups(redis, streams, redisPrefix));
      if (!groups) throw unavailable();
      return { groups };
    },
  );

  app.get(
    '/dashboard/api/nodes',
    {
      schema: {
        operationId: 'getDashboardNodes',
        summary: 'Delivery nodes with their last heartbeat and open connections',
        tags,
        response: { 200: Nodes, ...common },
      },
    },
    async () => {
      const [beats, counts] = await redisCall(() =>
        Promise.all([redis.zrange(keys.nodes, 0, -1, 'WITHSCORES'), redis.hgetall(keys.nodeConnections)]),
      );
      const now = Date.now();
      const nodes: Static<typeof Nodes>['nodes'] = [];
      for (let i = 0; i + 1 < beats.length; i += 2) {
        const nodeId = beats[i]!;
        const lastHeartbeatAt = Number(beats[i + 1]);
        const reported = counts[nodeId];
        nodes.push({
          nodeId,
          lastHeartbeatAt,
          alive: now - lastHeartbeatAt <= nodeTtlMs,
          connections: reported === undefined ? null : Number(reported),
        });
      }
      return { nodes };
    },
  );
};

type Window = LedgerWindow & { timed: TimedEvent[] };

/** XREVRANGE over the last `minutes`, newest first, at most WINDOW_CAP entries; shared briefly between polls. */
function windowReader(redis: RedisClient, eventsKeys: readonly string[]): (minutes: number) => Promise<Window> {
  const recent = new Map<number, { at: number; window: Promise<Window> }>();
  return (minutes) => {
    const now = Date.now();
    const hit = recent.get(minutes);
    if (hit && now - hit.at < WINDOW_REUSE_MS) return hit.window;
    const from = now - minutes * 60_000;
    const window = redisCall(() => Promise.all(eventsKeys.map((key) => redis.xrevrange(key, '+', String(from), 'COUNT', WINDOW_CAP)))).then(
      (partitions) => foldWindow(newestFirst(partitions as RawEntry[][], WINDOW_CAP), { from, to: now, cap: WINDOW_CAP }),
    );
    recent.set(minutes, { at: now, window });
    window.catch(() => recent.delete(minutes));
    return window;
  };
}

/** Redis down is the operator's problem to see, not a bug: 503 with Retry-After. */
async function redisCall<T>(call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch {
    throw unavailable();
  }
}

function unavailable(): HttpProblem {
  return new HttpProblem('dispatcher-unavailable', 'Redis does not answer');
}

/** Every partition's entries (each newest first) merged newest first, cut to `cap`. */
function newestFirst(partitions: RawEntry[][], cap: number): RawEntry[] {
  if (partitions.length === 1) return partitions[0]!;
  return partitions
    .flat()
    .sort(([a], [b]) => compareIds(b, a))
    .slice(0, cap);
}
