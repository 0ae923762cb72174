/**
 * `make dev`: the three services as local processes. Redis and MongoDB come from
 * REDIS_URL and MONGO_URL when set; otherwise a local redis-server and mongod (or
 * FerretDB) are started in a temporary folder, on 6379 and 27017 when those are free.
 * While it runs, a state file (cli/src/dev-state.ts) lets `pushflow` find the stack.
 * Ctrl-C stops everything.
 */
import { removeDevState, writeDevState } from '../cli/src/dev-state.ts';
import { devBanner } from '../local-stack/dev-banner.ts';
import { devLineFormatter } from '../local-stack/dev-logs.ts';
import { MissingBinary, mongoServer, redisServer, type Server } from '../local-stack/servers.ts';
import { startStack } from '../local-stack/stack.ts';

const env = process.env;
const port = (name: string, fallback: number) => Number(env[name] ?? fallback);
const colours = ['\x1b[36m', '\x1b[35m', '\x1b[33m', '\x1b[32m', '\x1b[34m'];
const seen = new Map<string, string>();
const tty = process.stdout.isTTY === true;
const format = devLineFormatter(tty);
/** The dispatcher's warning that the server refuses TTL indexes: shown once, in the banner. */
const TTL_REFUSED = 'refuses TTL indexes';
let ttlRefused = false;

function label(service: string): string {
  if (!seen.has(service)) seen.set(service, colours[seen.size % colours.length]!);
  const name = service.padEnd(10);
  return tty ? `${seen.get(service)}${name}\x1b[0m` : name;
}

let redis: Server, mongo: Server;
try {
  redis = await redisServer({ preferPort: 6379 });
  mongo = await mongoServer({ preferPort: 27017 });
} catch (err) {
  if (!(err instanceof MissingBinary)) throw err;
  process.stderr.write(`make dev: ${err.message}\n`);
  process.exit(1);
}
console.log(`${label('dev')} Redis   ${redis.url} (${redis.source})`);
console.log(`${label('dev')} MongoDB ${mongo.url} (${mongo.source})`);

const gatewayPort = port('GATEWAY_PORT', 3000);
const deliveryPort = port('DELIVERY_PORT', 8080);
const stack = await startStack({
  redis,
  mongo,
  isolate: false,
  gatewayPort,
  deliveryPorts: [deliveryPort],
  dispatcherPort: port('DISPATCHER_PORT', 3001),
  env: {
    // A laptop's webhook receivers are on localhost (`pushflow webhooks listen`): lift the SSRF guard here only.
    PUSHFLOW_WEBHOOK_ALLOW_PRIVATE: 'true',
    ...Object.fromEntries(
      ['PUSHFLOW_API_KEYS', 'PUSHFLOW_CONNECT_SECRET', 'LOG_LEVEL', 'PUSHFLOW_REDIS_PREFIX', 'PUSHFLOW_WEBHOOK_ALLOW_PRIVATE']
        .filter((k) => env[k])
        .map((k) => [k, env[k]!]),
    ),
  },
  onLine: (service, line) => {
    if (line.includes(TTL_REFUSED)) {
      ttlRefused = true;
      return;
    }
    process.stdout.write(`${label(service)} ${format(line)}\n`);
  },
}).catch(async (err: Error) => {
  process.stderr.write(`make dev: ${err.message}\n`);
  await Promise.all([redis.stop(), mongo.stop()]);
  process.exit(1);
});

const prefix = env.PUSHFLOW_REDIS_PREFIX || undefined;
const statePath = writeDevState({
  pid: process.pid,
  gatewayUrl: stack.gatewayUrl,
  apiKey: stack.apiKey,
  redisUrl: stack.redisUrl,
  prefix: stack.prefix,
  mongoUrl: stack.mongoUrl,
});
const servers = [
  { name: 'Redis', server: redis },
  { name: 'MongoDB', server: mongo },
];
console.log(
  devBanner({
    gatewayPort,
    deliveryPort,
    apiKey: stack.apiKey,
    redisUrl: stack.redisUrl,
    mongoUrl: stack.mongoUrl,
    prefix,
    dataDirs: servers.flatMap(({ name, server }) => {
      const where = server.dir ?? (server.source.startsWith('container') ? `a ${server.source}` : undefined);
      return where ? [{ name, where }] : [];
    }),
    external: servers.filter(({ server }) => server.source === 'env').map(({ name }) => name),
    statePath,
    noTtl: ttlRefused,
    mongoSource: mongo.source,
  }),
);

let stopping = false;
const stop = async () => {
  if (stopping) return;
  stopping = true;
  removeDevState(process.pid);
  const codes = await stack.stop();
  await Promise.all([redis.stop(), mongo.stop()]);
  process.exit(codes.every((c) => c === 0) ? 0 : 1);
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
// Any other way out (an uncaught error) must not leave the state file behind either.
process.on('exit', () => removeDevState(process.pid));
