/**
 * What `make dev` prints once its stack is ready: one block with everything a newcomer needs
 * to try it, and the settings other tools need to reach its Redis and MongoDB.
 */
export interface DevBannerInfo {
  gatewayPort: number;
  deliveryPort: number;
  apiKey: string;
  redisUrl: string;
  mongoUrl: string;
  /** The key prefix, when not the default pushflow: (PUSHFLOW_REDIS_PREFIX was set). */
  prefix?: string;
  /** Where the servers `make dev` started itself keep their data (a temporary folder, a container), by name. */
  dataDirs: { name: string; where: string }[];
  /** The servers that came from REDIS_URL / MONGO_URL, by name: their data is not ours to remove. */
  external: string[];
  statePath: string;
  /** The MongoDB server refused the status TTL index (FerretDB does). */
  noTtl: boolean;
  /** What served as MongoDB, to name it in the TTL line (a binary's path, "env", a container). */
  mongoSource: string;
}

export function devBanner(i: DevBannerInfo): string {
  const api = `http://localhost:${i.gatewayPort}`;
  const ws = `localhost:${i.deliveryPort}`;
  const data = [
    ...i.dataDirs.map((d) => `  data        ${d.name} in ${d.where}, deleted when make dev stops`),
    ...i.external.map(
      (name) =>
        `  data        ${name} is the server you gave (${name === 'Redis' ? 'REDIS_URL' : 'MONGO_URL'}); make dev leaves its data alone`,
    ),
  ];
  const server = /ferretdb/i.test(i.mongoSource) ? 'FerretDB' : 'This MongoDB server';
  return `
PushFlow is running. Ctrl-C stops it.

  API         ${api}
  API docs    ${api}/docs
  dashboard   ${api}/dashboard   (asks for the API key)
  demo page   http://${ws}/demo   (paste a connect token)
  WebSocket   ws://${ws}/ws?token=<connect token>
  API key     ${i.apiKey}   (development keys: set PUSHFLOW_API_KEYS and PUSHFLOW_CONNECT_SECRET to change them)

  Redis and MongoDB, for other tools and shells:
    export REDIS_URL=${i.redisUrl}
    export MONGO_URL=${i.mongoUrl}${i.prefix === undefined ? '' : `\n    export PUSHFLOW_REDIS_PREFIX=${i.prefix}`}
${data.join('\n')}${i.noTtl ? `\n  note        ${server} does not expire documents by TTL (the status TTL index): status documents and command records stay` : ''}

  The CLI finds this stack by itself (${i.statePath}, removed when make dev stops):
    npx pushflow watch                  # every notification's events, live
    npx pushflow send alice --title Hi  # in another terminal
    npx pushflow token alice            # a connect token for the demo page
`;
}
