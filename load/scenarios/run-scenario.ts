import { randomBytes } from 'node:crypto';
import { awaitRoutable, connectReceivers, type Receivers } from '../drivers/clients.ts';
import { now, sleep } from '../drivers/clock.ts';
import { cpuCost } from '../probes/cpu-cost.ts';
import { drainSecondsFor, type BenchOptions, type ScenarioName } from '../options.ts';
import { summarize } from '../report/percentiles.ts';
import { startProgress } from '../report/progress.ts';
import { projectionFigures } from '../report/projection.ts';
import { createTally, tallied, type Tally } from '../drivers/senders.ts';
import type { System } from '../drivers/system.ts';
import { startWindowUsage } from '../probes/window-usage.ts';
import { warmUp, type WarmUpFigures } from './warm-up.ts';

/**
 * What every scenario shares: connect the recipients, make sure they are routable, let
 * the scenario's driver send for the window, wait (bounded) for every frame and, where the
 * system stores one, every DELIVERED status, and turn it all into figures. Drivers only
 * decide when to send; the system (drivers/system.ts) decides how: PushFlow or a peer.
 */
export interface Driver {
  name: ScenarioName;
  parameters: Record<string, unknown>;
  /**
   * Sends until `deadline` (ms, clock.now), then resolves once every POST is answered:
   * `send` one publication a POST, `sendBatch` one to each recipient given in one POST.
   */
  drive(ctx: {
    send: (recipientId: string) => Promise<void>;
    sendBatch: (recipientIds: string[]) => Promise<void>;
    recipients: string[];
    deadline: number;
    tally: Tally;
  }): Promise<Record<string, unknown>>;
}

export async function runScenario(system: System, options: BenchOptions, driver: Driver) {
  const runId = randomBytes(3).toString('hex');
  const recipientPrefix = `bench-${runId}-`;
  const recipients = Array.from({ length: options.recipients }, (_, i) => `${recipientPrefix}${i}`);
  const drainSeconds = drainSecondsFor(options, driver.name);
  const tally = createTally();
  let phase = 'connecting';
  let receivers: Receivers | undefined;
  const started = now();
  const progress = startProgress(driver.name, () => {
    const s = ((now() - started) / 1000).toFixed(1);
    return (
      `${phase} ${s}s sent ${tally.sent} accepted ${tally.acceptedIds.length} received ${receivers?.frames ?? 0}` +
      ` errors ${Object.values(tally.errors).reduce((a, b) => a + b, 0)} in-flight ${tally.inFlight}`
    );
  });
  try {
    const arrived = new Set<string>();
    let probeFrames = 0;
    receivers = await connectReceivers(system, recipients, (id) => {
      probeFrames++;
      arrived.add(id);
    });
    phase = 'probing routes';
    await awaitRoutable(
      recipients,
      async (id) => {
        await system.send(id, { warmup: true });
      },
      arrived,
    );
    let warmedUp: WarmUpFigures | undefined;
    if (options.warmupSeconds > 0) {
      phase = 'warming up';
      warmedUp = await warmUp({
        system,
        driver,
        recipients,
        recipientPrefix,
        seconds: options.warmupSeconds,
        probeFrames: () => probeFrames,
        settleBoundMs: drainSeconds * 1000,
      });
    }

    phase = 'sending';
    const usage = await startWindowUsage(system);
    const windowStart = now();
    const deadline = windowStart + options.durationSeconds * 1000;
    const extra = await driver.drive({
      send: tallied(system.send, tally),
      sendBatch: tallied(system.sendBatch, tally),
      recipients,
      deadline,
      tally,
    });
    const windowEnd = now();
    const framesInWindow = receivers.frames;
    const usedDuringWindow = await usage.stop();
    const windowSeconds = (windowEnd - windowStart) / 1000;
    const afterWindow = (at: number | null) => (at === null ? null : Math.round(at - windowEnd));

    phase = 'draining';
    const drainDeadline = now() + drainSeconds * 1000;
    // Where statuses are stored, what the window left the projector and what working it off cost.
    const stored = system.statuses.kind === 'stored' ? system.statuses : undefined;
    const run = { ids: tally.acceptedIds, recipientPrefix };
    const countedAt = now();
    const deliveredAtWindowEnd = stored ? await stored.deliveredSoFar(run) : 0;
    const catchUp = stored ? await startWindowUsage(system) : undefined;
    const framesCompleteAt = await awaitFrames(receivers, tally.acceptedIds, drainDeadline);
    await sleep(250); // lets a duplicate that trails its original show up
    phase = 'verifying';
    const statuses = await stored?.await(run, drainDeadline);
    const usedCatchingUp = await catchUp?.stop();
    await receivers.close();

    const accepted = new Set(tally.acceptedIds);
    let received = 0;
    let duplicates = 0;
    let unexpected = 0;
    for (const [id, n] of receivers.counts) {
      if (!accepted.has(id)) unexpected += n;
      else received++;
      if (n > 1) duplicates += n - 1;
    }
    const missing = accepted.size - received;
    const delivered = statuses?.statuses.DELIVERED ?? 0;
    const verified =
      accepted.size > 0 &&
      missing === 0 &&
      duplicates === 0 &&
      receivers.misrouted === 0 &&
      (statuses === undefined || delivered === accepted.size);

    return {
      scenario: driver.name,
      parameters: {
        ...driver.parameters,
        recipients: options.recipients,
        durationSeconds: options.durationSeconds,
        warmupSeconds: options.warmupSeconds,
        drainSeconds,
        ...system.parameters,
      },
      ...(warmedUp && { warmUp: warmedUp }),
      durationSeconds: round(windowSeconds, 3),
      acceptedPerSecond: round(accepted.size / windowSeconds),
      deliveredPerSecond: round(framesInWindow / windowSeconds),
      ...extra,
      latencyMs: {
        acceptToReceive: summarize(receivers.latencyMs),
        post: summarize(tally.postMs),
      },
      counts: {
        requests: tally.requests,
        sent: tally.sent,
        accepted: accepted.size,
        errors: tally.errors,
        received,
        receivedInWindow: framesInWindow,
        duplicates,
        missing,
        unexpected,
        misrouted: receivers.misrouted,
        socketsDroppedByServer: receivers.dropped,
      },
      verified,
      verification: {
        via: statuses?.via ?? 'none',
        statuses: statuses?.statuses ?? null,
        notFound: statuses?.notFound ?? null,
        ...(system.statuses.kind === 'none' && { noStatuses: system.statuses.why }),
        // How long after the window every frame had arrived, and every status was
        // DELIVERED: the second is the projection's lag (null: not within --drain); the
        // third, when the read confirming it was done (drivers/verify.ts).
        framesCompleteAfterWindowMs: afterWindow(framesCompleteAt),
        statusesCompleteAfterWindowMs: statuses ? afterWindow(statuses.completeAt) : null,
        statusesConfirmedAfterWindowMs: statuses ? afterWindow(statuses.confirmedAt) : null,
        projection: statuses
          ? {
              ...projectionFigures({
                accepted: accepted.size,
                deliveredAtWindowEnd,
                windowStart,
                countedAt,
                completeAt: statuses.completeAt,
              }),
              // CPU from the window's end until the statuses were confirmed (or --drain): the
              // projection's cost that cpuMsPerNotification, of the window alone, leaves out,
              // with the harness's own status reads.
              cpuSecondsWhileCatchingUp: usedCatchingUp?.cpuSecondsDuringWindow ?? null,
            }
          : null,
      },
      ...usedDuringWindow,
      ...cpuCost(usedDuringWindow.cpuSecondsDuringWindow, framesInWindow, 'Notification'),
    };
  } finally {
    progress.stop();
    await receivers?.close();
  }
}

/** When (clock.now) every accepted notification had a frame, or null if the deadline came first. */
async function awaitFrames(receivers: Receivers, ids: string[], deadline: number): Promise<number | null> {
  for (;;) {
    if (receivers.frames >= ids.length && ids.every((id) => receivers.counts.has(id))) return now();
    if (now() >= deadline) return null;
    await sleep(50);
  }
}

function round(n: number, decimals = 1): number {
  return Number(n.toFixed(decimals));
}
