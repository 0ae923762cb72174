import { MongoClient } from 'mongodb';
import { createLogger, createRedis, loadConfigOrExit, onShutdown, useEntryFormat } from '@pushflow/shared';
import { loadDispatcherConfig } from './config.ts';
import { startDispatcher } from './dispatcher.ts';
import { MONGO_CONNECT_TIMEOUT_MS, mongoClientOptions } from './runtime/mongo-client.ts';
import { restartClient, watchHeartbeats } from './runtime/mongo-watchdog.ts';

const config = loadConfigOrExit('dispatcher', () => loadDispatcherConfig());
useEntryFormat(config.PUSHFLOW_ENTRY_FORMAT);
const log = createLogger('dispatcher', config.LOG_LEVEL);
const connect = (name: string) => createRedis(config.REDIS_URL, name, { log });

const redis = connect('dispatcher');
const mongo = new MongoClient(config.MONGO_URL, mongoClientOptions(config));
await mongo.connect();
// A heartbeat times out after the connect timeout; one unanswered three times as long is stuck.
const watchdog = watchHeartbeats(mongo, { stallMs: 3 * MONGO_CONNECT_TIMEOUT_MS, log, restart: () => restartClient(mongo) });

const onFatal = (err: Error) => {
  log.fatal({ err }, 'exiting: the webhook relay is gone, and its ledger entries wait for a restart');
  log.flush?.();
  process.exit(1);
};
const dispatcher = await startDispatcher({ config, redis, connect, mongo, log, onFatal });
log.info({ port: dispatcher.port, consumer: config.PUSHFLOW_CONSUMER_ID, partitions: config.PUSHFLOW_PARTITIONS }, 'ready');

onShutdown(log, async () => {
  await dispatcher.stop();
  await redis.quit();
  watchdog.stop();
  await mongo.close();
});
