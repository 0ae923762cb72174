import { once } from 'node:events';
import { parseArgs } from 'node:util';
import { Type } from '@sinclair/typebox';
import { MongoClient } from 'mongodb';
import { common, createLogger, createRedis, makeKeys, loadConfigOrExit, recordedPartitions } from '@pushflow/shared';
import { commandsCollectionFor } from './command-claims.ts';
import { DispatcherConfigSchema } from '../config.ts';
import { compareCollections, replayLedger, ReplayTargetNotEmpty } from './replay.ts';

/** `npm run ledger:replay -- [--collection NAME] [--compare]`: see HELP. */
const HELP = `Usage: npm run ledger:replay -- [--collection NAME] [--compare]

Rebuilds the notification status documents from the ledger (the Redis events stream,
every partition of it)
into a fresh MongoDB collection, and their command records into NAME_commands, without
changing anything in Redis or in the live \`notifications\` and \`commands\` collections.

  --collection NAME  target collection; it and NAME_commands must be empty or missing
                     (default notifications_replay_<timestamp>)
  --compare          compare the rebuilt documents with the live \`notifications\`
                     collection (ignoring \`version\`), and the command records with
                     \`commands\`; exit 1 if either differs
  --help             this text

Environment: REDIS_URL, MONGO_URL, PUSHFLOW_REDIS_PREFIX, PUSHFLOW_STATUS_TTL_DAYS,
PUSHFLOW_PARTITIONS (only where the deployment has not recorded its count in Redis yet),
LOG_LEVEL (default warn; logs go to stdout before the summary).

Prints one JSON line: {collection, commands, events, documents, ledgerFrom, ...} and with
--compare {identical, differing: [ids], commandRecords: {identical, differing: [command ids]}}. The ledger is trimmed by retention
(PUSHFLOW_LEDGER_RETENTION_MS), so a replay rebuilds only what the ledger still holds:
notifications older than ledgerFrom come out partial or missing and then differ.
`;

const ReplayConfigSchema = Type.Object({
  REDIS_URL: common.REDIS_URL,
  MONGO_URL: common.MONGO_URL,
  PUSHFLOW_REDIS_PREFIX: common.PUSHFLOW_REDIS_PREFIX,
  PUSHFLOW_PARTITIONS: common.PUSHFLOW_PARTITIONS,
  PUSHFLOW_STATUS_TTL_DAYS: DispatcherConfigSchema.properties.PUSHFLOW_STATUS_TTL_DAYS,
  LOG_LEVEL: Type.Union(common.LOG_LEVEL.anyOf, { default: 'warn' }),
});

const { values: args } = parseArgs({
  options: { collection: { type: 'string' }, compare: { type: 'boolean', default: false }, help: { type: 'boolean', default: false } },
  strict: true,
});
if (args.help) {
  process.stdout.write(HELP);
  process.exit(0);
}

const config = loadConfigOrExit('ledger-replay', ReplayConfigSchema);
const log = createLogger('ledger-replay', config.LOG_LEVEL);
const redis = createRedis(config.REDIS_URL, 'ledger-replay', { failFast: true });
const mongo = new MongoClient(config.MONGO_URL, { serverSelectionTimeoutMS: 5000 });

let exitCode = 0;
try {
  await Promise.race([
    once(redis, 'ready'),
    new Promise((_, reject) => setTimeout(() => reject(new Error(`Redis at REDIS_URL did not answer within 5 s`)), 5000).unref()),
  ]);
  await mongo.connect();
  const db = mongo.db();
  const result = await replayLedger({
    // The deployment's own record of P wins: a replay that missed partitions would look complete.
    redis,
    keys: makeKeys(
      config.PUSHFLOW_REDIS_PREFIX,
      (await recordedPartitions(redis, makeKeys(config.PUSHFLOW_REDIS_PREFIX))) ?? config.PUSHFLOW_PARTITIONS,
    ),
    db,
    log,
    statusTtlDays: config.PUSHFLOW_STATUS_TTL_DAYS,
    ...(args.collection !== undefined && { collection: args.collection }),
  });
  const summary: Record<string, unknown> = {
    ...result,
    note: 'rebuilt from the ledger as retention left it: entries before ledgerFrom are gone',
  };
  if (args.compare) {
    const comparison = await compareCollections(db.collection(result.collection), db.collection('notifications'));
    const commandRecords = await compareCollections(db.collection(result.commands), db.collection(commandsCollectionFor('notifications')));
    Object.assign(summary, comparison, { commandRecords });
    if (!comparison.identical || !commandRecords.identical) exitCode = 1;
  }
  process.stdout.write(`${JSON.stringify(summary)}\n`);
} catch (err) {
  const message = err instanceof ReplayTargetNotEmpty ? err.message : `replay failed: ${(err as Error).message}`;
  process.stderr.write(`ledger-replay: ${message}\n`);
  exitCode = 2;
} finally {
  redis.disconnect();
  await mongo.close();
}
process.exit(exitCode);
