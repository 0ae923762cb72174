import { parentPort, workerData } from 'node:worker_threads';
import { createLogger, createRedis, makeKeys, useEntryFormat } from '@pushflow/shared';
import type { DispatcherConfig } from '../config.ts';
import { connectMongo } from '../runtime/mongo-client.ts';
import type { AttemptOutcome } from './relay.ts';
import type { FromRelay, ToRelay } from './relay-messages.ts';
import { startRelayService } from './relay-service.ts';
import { lowerThreadPriority } from './thread-priority.ts';

// The webhook relay's thread (relay-host.ts starts it): its own connections and event loop,
// at a lower CPU priority than the thread that sends, projects and answers status reads.

const port = parentPort!;
const { config } = workerData as { config: DispatcherConfig };
const send = (m: FromRelay) => port.postMessage(m);
useEntryFormat(config.PUSHFLOW_ENTRY_FORMAT);
const log = createLogger('dispatcher', config.LOG_LEVEL, { write: (line: string) => send({ op: 'log', line }) }).child({
  part: 'webhooks',
});
const priority = lowerThreadPriority(config.PUSHFLOW_WEBHOOK_NICE);

// What the main thread asks while this one connects waits for the service.
const inbox: ToRelay[] = [];
let handle: (m: ToRelay) => void = (m) => void inbox.push(m);
port.on('message', (m: ToRelay) => handle(m));

const connect = (name: string) => createRedis(config.REDIS_URL, name, { log });
const redis = connect('dispatcher-webhooks');
const { mongo, watchdog } = await connectMongo(config, log);

/** The metrics live on the main thread: attempts go there once per turn of this loop. */
let attempts: [string, AttemptOutcome, number][] = [];
function reportAttempts(): void {
  if (attempts.length === 0) return;
  send({ op: 'attempts', list: attempts });
  attempts = [];
}
const service = startRelayService({
  config,
  redis,
  connect,
  keys: makeKeys(config.PUSHFLOW_REDIS_PREFIX, config.PUSHFLOW_PARTITIONS),
  db: mongo.db(),
  log,
  onAttempt(endpointId, outcome, latencyMs) {
    if (attempts.push([endpointId, outcome, latencyMs]) === 1) setImmediate(reportAttempts);
  },
  onBatch: (stream, size) => send({ op: 'batch', stream, size }),
});

/** Backlogs, a few times a second. */
const reportBacklog = () => send({ op: 'in-memory', counts: service.inMemory() });
const reports = setInterval(reportBacklog, 250);

function reply(id: number, work: Promise<unknown>): Promise<void> {
  return work.then(
    (value) => send({ op: 'reply', id, ...(typeof value === 'string' && { value }) }),
    (err: Error) => send({ op: 'reply', id, error: err.message }),
  );
}

handle = (m) => {
  switch (m.op) {
    case 'consume':
      return service.consume(m.partition, m.reclaim);
    case 'release':
      return void reply(m.id, service.release(m.partition));
    case 'test':
      return void reply(m.id, service.sendTest(m.endpointId));
    case 'halt':
      return service.halt();
    case 'stop':
      return void reply(
        m.id,
        (async () => {
          await service.stop();
          clearInterval(reports);
          reportAttempts();
          reportBacklog();
          watchdog.stop();
          await Promise.allSettled([redis.quit(), mongo.close()]);
        })(),
      );
  }
};
for (const m of inbox.splice(0)) handle(m);
if (priority instanceof Error) log.warn({ err: priority.message }, 'webhook relay runs at the dispatcher priority');
send({ op: 'ready', ...(priority instanceof Error ? { priorityError: priority.message } : { nice: priority.nice }) });
