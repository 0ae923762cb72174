import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { findCentrifugo, installHint } from './centrifugo/find.ts';

/** Command-line options of `load/bench.ts`; `make bench` passes none, so every default runs. */
export type ScenarioName = 'throughput' | 'latency' | 'status' | 'connections' | 'batch' | 'webhooks';
export const scenarioNames: readonly ScenarioName[] = ['throughput', 'latency', 'status', 'connections', 'batch', 'webhooks'];

export interface BenchOptions {
  scenarios: ScenarioName[];
  nodes: number;
  /** PUSHFLOW_PARTITIONS of the stack it starts. */
  partitions: number;
  /** Dispatcher processes of the stack it starts; they share the partitions. */
  dispatchers: number;
  recipients: number;
  concurrency: number;
  durationSeconds: number;
  /** throughput, latency and batch: seconds of the scenario's own load before its window (0: none). */
  warmupSeconds: number;
  rate: number;
  maxInFlight: number;
  /** --drain when given; each scenario's own bound otherwise (drainSecondsFor). */
  drainSeconds?: number;
  /** batch: notifications per POST. */
  batch: number;
  /** status: documents seeded into the status collection before the GETs. */
  statusDocs: number;
  /** connections: idle WebSockets to open and hold. */
  connections: number;
  /** connections: recipients the notification is sent to while every socket is held. */
  sample: number;
  /** connections: sockets per load-generator child process (default: its open-file limit less a margin). */
  socketsPerProcess?: number;
  /** throughput and latency also run against this peer, in the same run (see --peer). */
  peer: 'centrifugo' | 'none';
  /** The centrifugo binary, when peer is centrifugo. */
  centrifugoBinary?: string;
  /** Where each service of the stacks it starts writes its V8 CPU profile (--cpu-prof). */
  cpuProfDir?: string;
  /** Set when targeting a running stack instead of starting one. */
  external?: { gatewayUrl: string; deliveryUrls: string[]; apiKey: string; mongoUrl?: string; redisUrl?: string };
}

export const usage = `Usage: ./scripts/node.sh load/bench.ts [options]

Benchmarks PushFlow on this machine. By default it starts its own stack (Redis, a
MongoDB-protocol server, dispatcher, delivery nodes, gateway) on free loopback ports,
runs every scenario (each on a fresh stack; throughput, latency, status and
connections take about 2 minutes on 2 cores, a minute more with the Centrifugo
peer; batch adds its warm-up and the wait for it to be stored, its window, the wait
for its statuses, each up to a minute, and its peer run), prints ONE JSON line per
scenario on stdout ("system":"pushflow") and stops the stack. With a peer (--peer),
throughput, latency and batch each print two more lines: Centrifugo's
("system":"centrifugo") and the comparison. Progress goes to stderr.

Scenarios:
  throughput   closed loop: --concurrency senders POST as fast as answers come back
  latency      open loop: POSTs scheduled at --rate per second whatever the answers
  status       seeds --status-docs status documents straight into MongoDB, then
               --concurrency keep-alive connections GET /notifications/:id/status
               of random seeded ids, closed loop, for --duration
  connections  opens --connections idle WebSockets (distinct recipients, valid
               tokens, --concurrency handshakes at a time, round-robin over the
               delivery nodes), holds them for --duration, sends one notification
               to each of --sample of them, reports connect rate, the delivery
               processes' RSS growth per connection and the receive latency
  batch        closed loop like throughput, but each POST carries --batch
               notifications (POST /notifications/batch; Centrifugo: /api/batch
               with as many publish commands); then every status must be DELIVERED
               within --drain, and the document says how fast the projector
               worked off what the window left it (verification.projection)
  webhooks     outcome webhooks, to a receiver on loopback (a thread of the load
               generator), offline recipients (each notification ends failed: one
               message): --concurrency closed-loop POSTs for --duration without an
               endpoint, then with one subscribed to failed and acknowledged (the
               send-path cost: sendPath.throughputLoss), then POST
               /notifications/batch of --batch for --duration or 100,000
               notifications (the relay's rate: relay.postsPerSecond). Verified:
               every accepted notification of the last two windows got its message
               within --drain (default 180), every 100th signature verified

Options:
  --scenario NAME      run only this scenario (repeatable; default: all)
  --nodes N            delivery nodes of the stack it starts (default 1)
  --partitions N       PUSHFLOW_PARTITIONS of the stack it starts: the commands and events
                       streams split into N partitions (1..256, default 1)
  --dispatchers N      dispatcher processes of the stack it starts, sharing the
                       partitions (each partition is consumed by one of them) (default 1)
  --recipients N       connected WebSocket recipients, spread over the nodes (default 50)
  --concurrency N      throughput: concurrent HTTP senders; status: concurrent GET
                       connections; connections: handshakes in flight (default 64)
  --duration S         seconds of sending (throughput, latency), of GETs (status),
                       of holding the sockets (connections) (default 10)
  --warmup S           throughput, latency and batch: seconds of the same load before
                       the window, not counted; the window opens once all of it has
                       arrived and is DELIVERED (a JIT-compiled service spends its
                       first seconds under load compiling; 0: measure it cold)
                       (default 10)
  --rate N             target sends per second in latency (default 1000)
  --max-in-flight N    latency: cap on unanswered POSTs; sends due beyond it are
                       skipped and reported (default 1000)
  --drain S            bound on the wait, after sending, for every frame and for every
                       status to reach DELIVERED (default 120, batch 60, webhooks 180; the
                       projection into a FerretDB stand-in lags the sends by tens of seconds)
  --batch N            batch: notifications per POST (default 100)
  --status-docs N      status: documents seeded into the collection (default 100000;
                       the FerretDB stand-in takes ~10 s per 100000 on 2 cores)
  --connections N      connections: idle WebSockets (default 10000). They are held by
                       child processes of the load generator, each within its open-file
                       limit (ulimit -n less 300), each from its own source addresses
                       on loopback (127.0.0.x, 4000 sockets each: the kernel's search
                       for a free port slows as an address fills). A delivery node
                       has the same limit, so the stack this scenario starts gets as
                       many nodes as that takes, or --nodes if more (100000 with
                       ulimit -n 20000: 6)
  --sockets-per-process N
                       connections: sockets per child process instead (default: as above)
  --sample N           connections: recipients that get a notification (default 100)

Peer comparison:
  --peer centrifugo|none
                       after PushFlow's throughput and latency runs, run the same
                       scenario (same options, same code) against a Centrifugo v6 the
                       harness starts itself (its own Redis, Redis engine, free port,
                       temporary config), print its JSON document ("system":
                       "centrifugo") and then a "comparison" document with PushFlow's
                       figures over Centrifugo's. Publications go to each recipient's
                       personal channel #<recipient> over Centrifugo's HTTP API;
                       clients use its JSON WebSocket protocol. Default: centrifugo
                       when a centrifugo binary is found (PATH, then
                       PUSHFLOW_CENTRIFUGO_BIN, then ~/.cache/pushflow/bin, where
                       scripts/install-centrifugo.sh builds it), else none.

Profiling:
  --cpu-prof DIR       start every service of the stacks it starts with node --cpu-prof;
                       each writes its profiles into DIR/<scenario>/<service>/ when it
                       stops (CPU.<date>.<time>.<pid>.0.<n>.cpuprofile, the main
                       thread's). Open them in Chrome DevTools or
                       speedscope. Not with --gateway: the bench starts no services.

Targeting a running stack (e.g. make dev) instead:
  --gateway URL        gateway base URL, e.g. http://127.0.0.1:3000
  --delivery URL       delivery base URL, e.g. ws://127.0.0.1:8080 (repeatable)
  --api-key K          an API key (default: the development key)
  --mongo URL          read statuses from this MongoDB (database in the path);
                       without it statuses are read with GET /notifications/:id/status;
                       the status scenario needs it and WRITES --status-docs
                       documents into that database's notifications collection
  --redis URL          only to report the Redis version
  -h, --help           this text

Cost: each document but connections gives the CPU milliseconds each process spent
per notification delivered in the window (cpuMsPerNotification; status: per GET,
cpuMsPerRequest), from its CPU seconds in the window (cpuSecondsDuringWindow;
"harness" is the load generator), and their sum over the servers, harness left out.

Exit status: 0 when every scenario verified, 2 when one did not, 1 on errors.
Verified: throughput, latency and batch, every accepted notification received exactly
once and DELIVERED (on Centrifugo, which stores no status, received exactly once); status,
every GET answered 200 about the id asked for; connections, every socket opened and
held, and every sampled notification received exactly once.
`;

export class UsageError extends Error {
  override name = 'UsageError';
}

/** `findPeer` finds the centrifugo binary (tests pass their own). */
export function parseOptions(argv: string[], findPeer: () => string | undefined = findCentrifugo): BenchOptions | 'help' {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      scenario: { type: 'string', multiple: true },
      nodes: { type: 'string' },
      partitions: { type: 'string' },
      dispatchers: { type: 'string' },
      recipients: { type: 'string' },
      concurrency: { type: 'string' },
      duration: { type: 'string' },
      warmup: { type: 'string' },
      rate: { type: 'string' },
      'max-in-flight': { type: 'string' },
      drain: { type: 'string' },
      batch: { type: 'string' },
      'status-docs': { type: 'string' },
      connections: { type: 'string' },
      sample: { type: 'string' },
      'sockets-per-process': { type: 'string' },
      gateway: { type: 'string' },
      delivery: { type: 'string', multiple: true },
      'api-key': { type: 'string' },
      mongo: { type: 'string' },
      redis: { type: 'string' },
      peer: { type: 'string' },
      'cpu-prof': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) return 'help';
  const scenarios = (values.scenario ?? [...scenarioNames]).map((s) => {
    if (!scenarioNames.includes(s as ScenarioName)) throw new UsageError(`unknown scenario ${s} (known: ${scenarioNames.join(', ')})`);
    return s as ScenarioName;
  });
  const options: BenchOptions = {
    scenarios,
    nodes: positive('nodes', values.nodes, 1, true),
    partitions: positive('partitions', values.partitions, 1, true),
    dispatchers: positive('dispatchers', values.dispatchers, 1, true),
    recipients: positive('recipients', values.recipients, 50, true),
    concurrency: positive('concurrency', values.concurrency, 64, true),
    durationSeconds: positive('duration', values.duration, 10),
    warmupSeconds: numeric('warmup', values.warmup, 10, { zero: true }),
    rate: positive('rate', values.rate, 1000),
    maxInFlight: positive('max-in-flight', values['max-in-flight'], 1000, true),
    ...(values.drain !== undefined && { drainSeconds: positive('drain', values.drain, 0) }),
    batch: positive('batch', values.batch, 100, true),
    statusDocs: positive('status-docs', values['status-docs'], 100_000, true),
    connections: positive('connections', values.connections, 10_000, true),
    sample: positive('sample', values.sample, 100, true),
    ...(values['sockets-per-process'] !== undefined && {
      socketsPerProcess: positive('sockets-per-process', values['sockets-per-process'], 0, true),
    }),
    ...peer(values.peer, findPeer),
    ...(values['cpu-prof'] !== undefined && { cpuProfDir: resolve(values['cpu-prof']) }),
  };
  if (options.partitions > 256) throw new UsageError(`--partitions must be at most 256, got ${options.partitions}`);
  if (options.sample > options.connections)
    throw new UsageError(`--sample (${options.sample}) cannot exceed --connections (${options.connections})`);
  if (values.gateway || values.delivery) {
    if (!values.gateway || !values.delivery) throw new UsageError('--gateway and --delivery go together');
    options.external = {
      gatewayUrl: values.gateway.replace(/\/$/, ''),
      deliveryUrls: values.delivery.map((u) => u.replace(/\/$/, '')),
      apiKey: values['api-key'] ?? 'dev-only-api-key-change-me',
      ...(values.mongo && { mongoUrl: values.mongo }),
      ...(values.redis && { redisUrl: values.redis }),
    };
    if (scenarios.includes('status') && !values.mongo)
      throw new UsageError('the status scenario seeds MongoDB: with --gateway it needs --mongo');
    if (values.partitions || values.dispatchers)
      throw new UsageError('--partitions and --dispatchers shape the stack the bench starts; not with --gateway');
    if (values['cpu-prof'] !== undefined) throw new UsageError('--cpu-prof profiles the services the bench starts; not with --gateway');
  } else if (values['api-key'] || values.mongo || values.redis) {
    throw new UsageError('--api-key, --mongo and --redis only apply with --gateway and --delivery');
  }
  return options;
}

function peer(asked: string | undefined, find: () => string | undefined): Pick<BenchOptions, 'peer' | 'centrifugoBinary'> {
  if (asked !== undefined && asked !== 'centrifugo' && asked !== 'none')
    throw new UsageError(`--peer must be centrifugo or none, got ${asked}`);
  if (asked === 'none') return { peer: 'none' };
  const binary = find();
  if (binary) return { peer: 'centrifugo', centrifugoBinary: binary };
  if (asked === 'centrifugo') throw new UsageError(`--peer centrifugo: no centrifugo binary found; ${installHint}`);
  return { peer: 'none' };
}

/**
 * How long a scenario waits after its window for every frame and every DELIVERED status:
 * --drain, else 60 s for batch (the bound its statuses are held to), 180 s for webhooks (the
 * relay catches up after the send windows, at its lower priority) and 120 s for the others
 * (the projection into the FerretDB stand-in lags single sends by tens of seconds).
 */
export function drainSecondsFor(options: Pick<BenchOptions, 'drainSeconds'>, scenario: ScenarioName): number {
  if (options.drainSeconds !== undefined) return options.drainSeconds;
  return scenario === 'batch' ? 60 : scenario === 'webhooks' ? 180 : 120;
}

function positive(name: string, raw: string | undefined, fallback: number, integer = false): number {
  return numeric(name, raw, fallback, { integer });
}

/** A number option: above 0, or with `zero` 0 too; with `integer` whole. */
function numeric(name: string, raw: string | undefined, fallback: number, { integer = false, zero = false } = {}): number {
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (raw.trim() === '' || !Number.isFinite(n) || (zero ? n < 0 : n <= 0) || (integer && !Number.isInteger(n))) {
    const kind = `positive ${integer ? 'integer' : 'number'}`;
    throw new UsageError(`--${name} must be ${zero ? `0 or a ${kind}` : `a ${kind}`}, got ${raw}`);
  }
  return n;
}
