import { now } from '../clock.ts';
import type { Driver } from '../run-scenario.ts';

/**
 * Closed loop: `concurrency` senders, each POSTing again as soon as its previous POST is
 * answered, round-robin over the recipients. What the system sustains is the accept rate.
 */
export function throughput(concurrency: number): Driver {
  return {
    name: 'throughput',
    parameters: { concurrency },
    async drive({ send, recipients, deadline }) {
      let i = 0;
      await Promise.all(Array.from({ length: concurrency }, async () => {
        while (now() < deadline) await send(recipients[i++ % recipients.length]!);
      }));
      return {};
    },
  };
}
