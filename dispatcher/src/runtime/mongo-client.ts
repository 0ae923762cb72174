import { MongoClient, type MongoClientOptions } from 'mongodb';
import type { Logger } from '@pushflow/shared';
import type { DispatcherConfig } from '../config.ts';
import { restartClient, watchHeartbeats, type Watchdog } from './mongo-watchdog.ts';

export const MONGO_CONNECT_TIMEOUT_MS = 10_000;

/**
 * The dispatcher's MongoClient settings. socketTimeoutMS: a reply that never comes (a
 * connection half-dead after a network cut) fails the operation, and the consumer retries
 * it, instead of holding its batch for ever. `w` from PUSHFLOW_MONGO_WRITE_CONCERN: given
 * here, it holds whatever default the deployment has (a replica set with an arbiter
 * defaults to w:1); the connection string's other write-concern options (journal,
 * wtimeoutMS) still apply.
 */
export function mongoClientOptions(config: Pick<DispatcherConfig, 'PUSHFLOW_MONGO_WRITE_CONCERN'>): MongoClientOptions {
  return {
    serverSelectionTimeoutMS: 5000,
    socketTimeoutMS: 30_000,
    connectTimeoutMS: MONGO_CONNECT_TIMEOUT_MS,
    w: writeConcern(config.PUSHFLOW_MONGO_WRITE_CONCERN),
  };
}

/** The setting as the driver's `w`: `majority` or a number of members. */
export function writeConcern(setting: string): 'majority' | number {
  return setting === 'majority' ? setting : Number(setting);
}

/**
 * A connected client and the watchdog on its heartbeats (a heartbeat times out after the
 * connect timeout; one unanswered three times as long is stuck): main.ts's, and the webhook
 * relay thread's.
 */
export async function connectMongo(
  config: Pick<DispatcherConfig, 'MONGO_URL' | 'PUSHFLOW_MONGO_WRITE_CONCERN'>,
  log: Logger,
): Promise<{ mongo: MongoClient; watchdog: Watchdog }> {
  const mongo = new MongoClient(config.MONGO_URL, mongoClientOptions(config));
  await mongo.connect();
  return { mongo, watchdog: watchHeartbeats(mongo, { stallMs: 3 * MONGO_CONNECT_TIMEOUT_MS, log, restart: () => restartClient(mongo) }) };
}
