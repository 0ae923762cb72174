import { createLogger, createRedis, loadConfigOrExit, onShutdown, useEntryFormat } from '@pushflow/shared';
import { loadDispatcherConfig } from './config.ts';
import { startDispatcher } from './dispatcher.ts';
import { connectMongo } from './runtime/mongo-client.ts';

const config = loadConfigOrExit('dispatcher', () => loadDispatcherConfig());
useEntryFormat(config.PUSHFLOW_ENTRY_FORMAT);
const log = createLogger('dispatcher', config.LOG_LEVEL);
const connect = (name: string) => createRedis(config.REDIS_URL, name, { log });

const redis = connect('dispatcher');
const { mongo, watchdog } = await connectMongo(config, log);

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
