import { now, sleep } from '../drivers/clock.ts';
import { summarize } from '../report/percentiles.ts';
import type { Driver } from './run-scenario.ts';

/**
 * Open loop: sends are due at a fixed rate whether or not earlier ones were answered, so
 * a slow system shows up as latency, not as a quietly lower rate. Unanswered POSTs are
 * capped to protect the machine; a send due while at the cap is skipped and counted, and
 * the report says whether the target rate was met.
 */
export function latencyScenario(rate: number, maxInFlight: number): Driver {
  return {
    name: 'latency',
    parameters: { rate, maxInFlight },
    async drive({ send, recipients, deadline, tally }) {
      const start = now();
      const inFlight = new Set<Promise<void>>();
      const lagMs: number[] = [];
      let due = 0;
      let issued = 0;
      let skipped = 0;
      for (let t = start; t < deadline; t = now()) {
        const shouldHave = Math.floor(((t - start) / 1000) * rate);
        for (; due < shouldHave; due++) {
          if (inFlight.size >= maxInFlight) {
            skipped++;
            continue;
          }
          // How late this send leaves compared with its slot: the timer's and the loop's lag.
          lagMs.push(t - (start + (due * 1000) / rate));
          const p = send(recipients[issued++ % recipients.length]!).finally(() => inFlight.delete(p));
          inFlight.add(p);
        }
        await sleep(1);
      }
      await Promise.all(inFlight);
      const seconds = (deadline - start) / 1000;
      const achieved = issued / seconds;
      return {
        rate: {
          target: rate,
          achievedSendsPerSecond: round(achieved),
          achievedAcceptsPerSecond: round(tally.acceptedIds.length / seconds),
          due,
          issued,
          skippedAtInFlightCap: skipped,
          // 2% slack for the timer's granularity at the edges of the window.
          targetAchieved: skipped === 0 && achieved >= rate * 0.98 && tally.acceptedIds.length >= issued * 0.98,
          scheduleLagMs: summarize(lagMs),
        },
      };
    },
  };
}

function round(n: number): number {
  return Math.round(n * 10) / 10;
}
