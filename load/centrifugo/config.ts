/**
 * The configuration file the benchmark starts Centrifugo v6 with. Every key is one that
 * v6.9.1 documents (`centrifugo configdoc`, `centrifugo defaultconfig`), and the harness
 * runs `centrifugo checkconfig --strict` on the file before each start, which refuses any
 * key it does not know.
 *
 *  - client.token.hmac_secret_key: connection JWTs are HS256, `sub` = the user.
 *  - client.subscribe_to_user_personal_channel.enabled: on connect, the server subscribes
 *    each connection to its user's personal channel; with personal_channel_namespace left
 *    empty that channel is `#<user>` (user boundary `#`, no namespace), the channel the
 *    harness publishes to.
 *  - channel.without_namespace: `#<user>` has no namespace, so these options apply to it;
 *    no history, presence or join/leave (Centrifugo's defaults, spelled out): a
 *    publication goes through Redis PUB/SUB to the subscribers and is stored nowhere.
 *  - http_api.key: the X-API-Key of POST /api/publish and /api/info.
 *  - engine.type redis, engine.redis.address and prefix: the Redis engine, on a Redis of
 *    the harness's own, under a prefix of the run's own.
 */
export interface CentrifugoSettings {
  port: number;
  redisUrl: string;
  redisPrefix: string;
  apiKey: string;
  hmacSecret: string;
}

export function centrifugoConfig(s: CentrifugoSettings) {
  return {
    log: { level: 'info' },
    http_server: { address: '127.0.0.1', port: s.port },
    client: {
      token: { hmac_secret_key: s.hmacSecret },
      subscribe_to_user_personal_channel: { enabled: true },
    },
    channel: {
      without_namespace: { history_size: 0, presence: false, join_leave: false },
    },
    http_api: { key: s.apiKey },
    engine: { type: 'redis', redis: { address: [s.redisUrl], prefix: s.redisPrefix } },
    usage_stats: { disabled: true },
  };
}
