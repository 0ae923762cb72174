import { request } from 'undici';
import { now } from '../drivers/clock.ts';
import { cpuCost } from '../probes/cpu-cost.ts';
import type { BenchOptions } from '../options.ts';
import { summarize } from '../report/percentiles.ts';
import { startProgress } from '../report/progress.ts';
import { stackParameters } from '../report/report.ts';
import { seedStatuses } from './seed-statuses.ts';
import type { Target } from '../drivers/target.ts';
import { startWindowUsage } from '../probes/window-usage.ts';

/**
 * GET /notifications/:id/status under load: the collection is seeded with --status-docs
 * delivered notifications, then --concurrency keep-alive connections (Node's fetch) ask
 * for random seeded ids, each asking again as soon as it is answered. Every answer must be
 * a 200 about the id asked for; anything else is counted by what it was.
 */
export async function statusScenario(target: Target, options: BenchOptions) {
  if (!target.mongoUrl) throw new Error("the status scenario needs the stack's MongoDB (--mongo)");
  let phase = 'seeding';
  let seededSoFar = 0;
  const samples: number[] = [];
  const errors: Record<string, number> = {};
  const started = now();
  const progress = startProgress('status', () => {
    const s = ((now() - started) / 1000).toFixed(1);
    const failed = Object.values(errors).reduce((a, b) => a + b, 0);
    return phase === 'seeding'
      ? `seeding ${s}s ${seededSoFar}/${options.statusDocs} documents`
      : `${phase} ${s}s answered ${samples.length} errors ${failed}`;
  });
  try {
    const seeded = await seedStatuses(target.mongoUrl, options.statusDocs, (n) => {
      seededSoFar = n;
    });
    progress.note(`seeded ${seeded.ids.length} documents in ${seeded.seconds.toFixed(1)} s`);
    const { ids } = seeded;
    const pick = () => ids[Math.floor(Math.random() * ids.length)]!;
    const headers = { authorization: `Bearer ${target.apiKey}` };

    const get = async (id: string, record: boolean) => {
      const sentAt = now();
      let outcome: string;
      try {
        // undici's request rather than fetch: a quarter of the load generator's CPU (senders.ts).
        const res = await request(`${target.gatewayUrl}/notifications/${id}/status`, { headers, signal: AbortSignal.timeout(10_000) });
        const body = await res.body.text();
        if (res.statusCode !== 200) outcome = String(res.statusCode);
        else outcome = (JSON.parse(body) as { notificationId?: string }).notificationId === id ? 'ok' : 'wrong notificationId';
      } catch (err) {
        const name = (err as Error).name;
        outcome = name === 'TimeoutError' || name === 'AbortError' ? 'timeout' : 'network';
      }
      if (!record) return;
      if (outcome === 'ok') samples.push(now() - sentAt);
      else errors[outcome] = (errors[outcome] ?? 0) + 1;
    };
    const loop = (until: number, record: boolean) =>
      Promise.all(
        Array.from({ length: options.concurrency }, async () => {
          while (now() < until) await get(pick(), record);
        }),
      );

    // Opens the keep-alive connections and lets the gateway's JIT settle; not counted.
    phase = 'warming up';
    await loop(now() + Math.min(2000, options.durationSeconds * 200), false);

    phase = 'reading';
    const usage = await startWindowUsage(target);
    const windowStart = now();
    await loop(windowStart + options.durationSeconds * 1000, true);
    const windowSeconds = (now() - windowStart) / 1000;
    const usedDuringWindow = await usage.stop();
    const failed = Object.values(errors).reduce((a, b) => a + b, 0);
    return {
      scenario: 'status' as const,
      parameters: {
        statusDocs: options.statusDocs,
        concurrency: options.concurrency,
        durationSeconds: options.durationSeconds,
        ...stackParameters(target, Boolean(options.external)),
      },
      durationSeconds: round(windowSeconds, 3),
      requestsPerSecond: round(samples.length / windowSeconds),
      latencyMs: { get: summarize(samples) },
      counts: { requests: samples.length + failed, ok: samples.length, errors },
      documents: {
        seeded: seeded.ids.length,
        inCollection: seeded.inCollection,
        seedSeconds: round(seeded.seconds, 1),
        seededPerSecond: round(seeded.ids.length / seeded.seconds),
      },
      verified: samples.length > 0 && failed === 0,
      ...usedDuringWindow,
      // Per GET made: this scenario sends no notification.
      ...cpuCost(usedDuringWindow.cpuSecondsDuringWindow, samples.length + failed, 'Request'),
    };
  } finally {
    progress.stop();
  }
}

function round(n: number, decimals = 1): number {
  return Number(n.toFixed(decimals));
}
