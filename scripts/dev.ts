/**
 * `make dev`: the three services as local processes. Redis and MongoDB come from
 * REDIS_URL and MONGO_URL when set; otherwise a local redis-server and mongod (or
 * FerretDB) are started in a temporary folder. Ctrl-C stops everything.
 */
import { MissingBinary, mongoServer, redisServer, type Server } from '../local-stack/servers.ts';
import { startStack } from '../local-stack/stack.ts';

const env = process.env;
const port = (name: string, fallback: number) => Number(env[name] ?? fallback);
const colours = ['\x1b[36m', '\x1b[35m', '\x1b[33m', '\x1b[32m', '\x1b[34m'];
const seen = new Map<string, string>();
const tty = process.stdout.isTTY;

function label(service: string): string {
  if (!seen.has(service)) seen.set(service, colours[seen.size % colours.length]!);
  const name = service.padEnd(10);
  return tty ? `${seen.get(service)}${name}\x1b[0m` : name;
}

let redis: Server, mongo: Server;
try {
  redis = await redisServer();
  mongo = await mongoServer();
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
  env: Object.fromEntries(
    ['PUSHFLOW_API_KEYS', 'PUSHFLOW_CONNECT_SECRET', 'LOG_LEVEL', 'PUSHFLOW_REDIS_PREFIX'].filter((k) => env[k]).map((k) => [k, env[k]!]),
  ),
  onLine: (service, line) => process.stdout.write(`${label(service)} ${line}\n`),
}).catch(async (err: Error) => {
  process.stderr.write(`make dev: ${err.message}\n`);
  await Promise.all([redis.stop(), mongo.stop()]);
  process.exit(1);
});

console.log(`
PushFlow is running (development keys; set PUSHFLOW_API_KEYS and PUSHFLOW_CONNECT_SECRET to change them).
  API        http://localhost:${gatewayPort}   docs http://localhost:${gatewayPort}/docs
  WebSocket  ws://localhost:${deliveryPort}/ws?token=...
  API key    ${stack.apiKey}

  curl -s -X POST localhost:${gatewayPort}/connect-tokens -H 'authorization: Bearer ${stack.apiKey}' \\
       -H 'content-type: application/json' -d '{"recipientId":"alice","ttlSeconds":3600}'
Ctrl-C stops it.
`);

let stopping = false;
const stop = async () => {
  if (stopping) return;
  stopping = true;
  const codes = await stack.stop();
  await Promise.all([redis.stop(), mongo.stop()]);
  process.exit(codes.every((c) => c === 0) ? 0 : 1);
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
